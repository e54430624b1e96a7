// Event kinds: the addon's table (native/core/event_kinds.h) and the
// TypeScript one (lib/events.ts) describe the same events, and the default
// and 'all' selections raise what the tables say.
import test from 'ava';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { TcpFlow, tcpOptions } from './helpers/pcap.mjs';
import { collect, root, scratch, tcpsensor } from './helpers/run.mjs';

const require = createRequire(import.meta.url);
const { binding } = require(join(root, 'dist', 'native.js'));
const { BATCH_VERSION } = require(join(root, 'dist', 'batch.js'));
const { EVENT_KINDS, EVENT_NAMES, EVENT_NAME_BY_ID, ArgShape, isEventName } = tcpsensor;

const PER_PACKET = ['tcp_packet', 'tcp_option', 'tcp_options', 'connection_SYN_packet'];

test('the addon and TypeScript list the same event kinds with the same ids, shapes and selections', (t) => {
  const native = binding().eventKinds;
  t.true(native.length > 0);
  const fromTs = EVENT_NAMES.map((name) => ({ id: EVENT_KINDS[name].id, name, shape: EVENT_KINDS[name].shape, inAll: EVENT_KINDS[name].inAll, inDefault: EVENT_KINDS[name].inDefault }));
  const byId = (a, b) => a.id - b.id;
  t.deepEqual([...native].map(({ id, name, shape, inAll, inDefault }) => ({ id, name, shape, inAll, inDefault })).sort(byId), fromTs.sort(byId));
});

test('ids are unique, and EVENT_NAME_BY_ID inverts EVENT_KINDS', (t) => {
  const ids = EVENT_NAMES.map((n) => EVENT_KINDS[n].id);
  t.is(new Set(ids).size, ids.length);
  for (const name of EVENT_NAMES) t.is(EVENT_NAME_BY_ID[EVENT_KINDS[name].id], name);
  t.is(EVENT_NAME_BY_ID.filter(Boolean).length, EVENT_NAMES.length);
});

test('every native name is an event name of the TypeScript API, with a known argument shape', (t) => {
  const shapes = new Set(Object.values(ArgShape).filter((v) => typeof v === 'number'));
  for (const k of binding().eventKinds) {
    t.true(isEventName(k.name), k.name);
    t.true(shapes.has(k.shape), `${k.name}: shape ${k.shape}`);
  }
});

test('the per-packet events are in "all" but off by default; "all" is a superset of the default', (t) => {
  for (const name of PER_PACKET) {
    t.true(EVENT_KINDS[name].inAll, name);
    t.false(EVENT_KINDS[name].inDefault, name);
  }
  for (const name of EVENT_NAMES) if (EVENT_KINDS[name].inDefault) t.true(EVENT_KINDS[name].inAll, name);
});

test('the addon writes the batch format version that TypeScript reads', (t) => {
  t.is(binding().batchVersion, BATCH_VERSION);
});

// One connection that raises a bit of everything: SYNs with options, data,
// an inconsistent retransmission, a hole in the stream, and a close.
function varietyTrace() {
  const f = new TcpFlow({ client: '10.6.0.1:40000', server: '10.6.0.2:80', t0: 10, step: 0.1 });
  f.syn({ options: tcpOptions([{ mss: 1460 }, { sackOk: true }, { wscale: 7 }]) });
  f.synAck({ options: tcpOptions([{ mss: 1400 }]) });
  f.ack('c');
  const seq = f.c.seq;
  f.data('c', 'aaaa');
  f.packet('c', { flags: 'PA', seq, payload: Buffer.from('bbbb') }); // same bytes' place, other bytes
  f.c.seq += 4; // four bytes never sent
  f.data('c', 'cccc');
  f.ack('s');
  f.close();
  return f.write(scratch('variety.pcap'));
}

const kinds = (events) => new Set(events.map((e) => e.event));

test('"all" raises only events marked inAll; the trace does raise the others when asked', async (t) => {
  const file = varietyTrace();
  const notInAll = EVENT_NAMES.filter((n) => !EVENT_KINDS[n].inAll);
  t.true(notInAll.length > 0);
  // The trace provokes them, so their absence below means something.
  const asked = kinds(await collect(file, { events: notInAll }));
  t.deepEqual([...asked].sort(), [...notInAll].sort());

  const all = kinds(await collect(file, { events: 'all' }));
  for (const name of all) t.true(EVENT_KINDS[name].inAll, name);
  for (const name of PER_PACKET) t.true(all.has(name), `${name} in 'all'`);
});

test('default options never raise tcp_packet, tcp_option, tcp_options or connection_SYN_packet', async (t) => {
  const file = varietyTrace();
  const events = await collect(file);
  t.true(events.length > 0);
  const seen = kinds(events);
  for (const name of seen) t.true(EVENT_KINDS[name].inDefault, name);
  for (const name of PER_PACKET) t.false(seen.has(name), name);
});
