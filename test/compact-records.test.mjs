// Compact records: a connection that has seen one pure SYN is held in 56
// bytes and rebuilt into its full record when anything needs more. That
// must change nothing an application can see: each trace here is read
// twice, once as usual and once with every connection kept full (the
// addon's `compactRecords: false`, a reference for these tests only), and
// every event, argument and record must be the same, uids included.
import test from 'ava';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { PcapWriter, TcpFlow, tcpOptions } from './helpers/pcap.mjs';
import { manyConnections } from './helpers/traces.mjs';
import { named, root, scratch, tcpsensor } from './helpers/run.mjs';

const require = createRequire(import.meta.url);
const { buildConfig } = require(`${root}/dist/options.js`);

let n = 0;
const path = (name) => scratch(`compact-${name}-${++n}.pcap`);

async function read(sensor) {
  const events = [];
  for await (const ev of sensor) events.push(ev);
  return { events, stats: sensor.stats() };
}

// The events of `file` with compact records, after checking that they
// equal those without.
async function same(t, file, options = {}) {
  const opts = { events: 'all', contentDeliverAllOrig: true, contentDeliverAllResp: true, ...options };
  const compact = await read(tcpsensor.open({ file }, opts));
  const config = buildConfig({ file }, opts);
  const full = await read(new tcpsensor.Sensor({ ...config, compactRecords: false }));
  t.deepEqual(JSON.parse(JSON.stringify(compact.events, bigints)), JSON.parse(JSON.stringify(full.events, bigints)));
  t.is(compact.stats.connectionsTotal, full.stats.connectionsTotal);
  t.is(compact.stats.connectionsCompact, 0);
  return compact.events;
}
const bigints = (_, v) => (typeof v === 'bigint' ? v.toString() : v);

// Other clients' SYNs at the given times move network time on.
function ticks(w, times) {
  times.forEach((at, i) => new TcpFlow({ writer: w, client: `10.9.${i >> 8}.${i & 255}:5000` }).packet('c', { flags: 'S', seq: 1, at }));
}
const LIFE = new Set(['connection_established', 'connection_attempt', 'connection_timeout', 'connection_finished',
  'connection_pending', 'connection_state_remove', 'tcp_contents']);
const life = (events, port = 40000) => events.filter((e) => e.id.orig_p === port && LIFE.has(e.event)).map((e) => `${e.ts} ${e.event}`);

test('a SYN answered later: the handshake, data and close come out as without compact records', async (t) => {
  const w = new PcapWriter();
  const f = new TcpFlow({ writer: w, t0: 100, step: 0.5 });
  f.syn({ at: 100, options: tcpOptions([{ mss: 1460 }, { wscale: 7 }, { sackOk: true }, { ts: [1, 0] }]) });
  ticks(w, [100.7, 101, 101.2]);
  f.synAck({ at: 102 });
  f.ack('c');
  f.data('c', 'hello');
  f.data('s', 'world');
  f.close();
  w.sortByTime();
  const events = await same(t, w.write(path('answered')));
  t.deepEqual(life(events), [
    '102 connection_established', '103 tcp_contents', '103.5 tcp_contents', '104.5 connection_finished',
    '105 connection_state_remove',
  ]);
  t.is(named(events, 'connection_state_remove').find((e) => e.id.orig_p === 40000).conn.history, 'ShADdFf');
});

test('SYN-only connections time out as before: the attempt timer, or with none the inactivity timeout', async (t) => {
  const w = new PcapWriter();
  new TcpFlow({ writer: w, t0: 100 }).syn({ at: 101 });
  new TcpFlow({ writer: w, client: '10.0.0.1:40001' }).syn({ at: 101 }); // the same time: timers tie
  new TcpFlow({ writer: w, client: '10.0.0.1:40002' }).syn({ at: 103.25 });
  // IPv6 SYNs stay full: their timers interleave with the compact ones'.
  const v6 = (port, at) => new TcpFlow({ writer: w, client: `[2001:db8::1]:${port}`, server: '[2001:db8::2]:80' }).syn({ at });
  v6(40003, 100.5);
  v6(40004, 101);
  v6(40005, 99);
  ticks(w, [104, 106, 106, 108.25, 170]);
  w.sortByTime();
  const file = w.write(path('timeouts'));
  const events = await same(t, file);
  t.deepEqual(named(events, 'connection_attempt').filter((e) => e.id.orig_p !== 5000).map((e) => `${e.ts} ${e.id.orig_p}`), [
    '104 40005', '106 40003', '106 40000', '106 40001', '106 40004', '108.25 40002',
  ]);
  t.deepEqual(life(events), ['106 connection_attempt', '106 connection_state_remove']);
  t.deepEqual(life(events, 40002), ['108.25 connection_attempt', '108.25 connection_state_remove']);
  // No attempt timer: the inactivity timer (60 s of the handshake) ends them.
  const quiet = await same(t, file, { tcpAttemptDelay: 0 });
  t.deepEqual(life(quiet), ['170 connection_timeout', '170 connection_state_remove']);
  // A SYN timeout shorter than the attempt delay: the expire timer comes
  // first (and finds nothing to do), then the attempt timer.
  await same(t, file, { tcpSYNTimeout: 1, tcpAttemptDelay: 3 });
  await same(t, file, { tcpSYNTimeout: 7, udpInactivityTimeout: 0 });
});

test('a repeated SYN, a SYN with another sequence number (reuse) and an answer from the other side', async (t) => {
  const w = new PcapWriter();
  const a = new TcpFlow({ writer: w, t0: 100 });
  a.packet('c', { flags: 'S', seq: 1000, at: 100 });
  a.packet('c', { flags: 'S', seq: 1000, at: 101 }); // retransmitted
  const b = new TcpFlow({ writer: w, client: '10.0.0.1:40001' });
  b.packet('c', { flags: 'S', seq: 1000, at: 100 });
  b.packet('c', { flags: 'S', seq: 9000, at: 102 }); // SYN_seq_jump: a new connection
  const c = new TcpFlow({ writer: w, client: '10.0.0.1:40002' });
  c.packet('c', { flags: 'S', seq: 1000, at: 100 });
  c.packet('s', { flags: 'S', seq: 7000, at: 100.5 }); // the responder's SYN: a reuse too, in Zeek's eyes
  const d = new TcpFlow({ writer: w, client: '10.0.0.1:40003' });
  d.packet('c', { flags: 'S', seq: 1000, at: 100 });
  d.packet('s', { flags: 'R', seq: 0, ack: 1001, at: 100.2 }); // rejected
  const e = new TcpFlow({ writer: w, client: '10.0.0.1:40004' });
  e.packet('c', { flags: 'S', seq: 1000, at: 100 });
  e.packet('c', { flags: 'A', seq: 1001, ack: 1, at: 100.3 }); // an ACK without an answer
  ticks(w, [103, 110]);
  w.sortByTime();
  const events = await same(t, w.write(path('second-packets')));
  t.deepEqual(named(events, 'connection_reused').map((x) => x.id.orig_p), [40002, 40001]);
  t.is(named(events, 'connection_rejected').length, 1);
});

test('pure SYNs are not flipped, whatever the ports; a connection that is flipped is not compacted and stays right', async (t) => {
  const w = new PcapWriter();
  // A SYN from a server port to a client port.
  const a = new TcpFlow({ writer: w, client: '10.0.0.1:80', server: '10.0.0.2:40000', t0: 100 });
  a.syn({ at: 100 });
  a.synAck({ at: 100.1 });
  // A SYN-ACK first: flipped at creation (likely server port).
  const b = new TcpFlow({ writer: w, client: '10.0.0.3:40001', server: '10.0.0.4:443' });
  b.packet('s', { flags: 'SA', seq: 5000, ack: 1001, at: 100.2 });
  b.packet('c', { flags: 'A', seq: 1001, ack: 5001, at: 100.3 });
  // A SYN-ACK seen before its SYN.
  const c = new TcpFlow({ writer: w, client: '10.0.0.5:40002', server: '10.0.0.6:8080' });
  c.packet('s', { flags: 'SA', seq: 5000, ack: 1001, at: 100.4 });
  c.packet('c', { flags: 'S', seq: 1000, at: 100.5 });
  ticks(w, [101, 107]);
  w.sortByTime();
  const events = await same(t, w.write(path('flips')), { likelyServerPorts: [80, 443, 8080] });
  t.is(named(events, 'connection_flipped').length, 2);
  t.is(named(events, 'connection_established').find((e) => e.id.resp_p === 40000)?.id.orig_p, 80);
});

test('flushed at the end of input: attempt timers in their order among the queue\'s, or connection_pending with none', async (t) => {
  const w = new PcapWriter();
  for (let i = 0; i < 50; i++) new TcpFlow({ writer: w, client: `10.1.0.${i}:40000` }).syn({ at: 100 + i * 0.1 });
  // Full connections whose timers act at the end too (a reset timer).
  const r = new TcpFlow({ writer: w, client: '10.2.0.1:40000', t0: 100.05 });
  r.handshake();
  r.fin('s');
  r.rst('s', { at: 101.55 }); // after its FIN: a reset timer, due at 106.55
  w.sortByTime();
  const file = w.write(path('end'));
  const events = await same(t, file);
  t.is(named(events, 'connection_attempt').length, 50);
  const ends = events.filter((e) => e.event === 'connection_attempt' || e.event === 'connection_reset');
  t.is(ends.findIndex((e) => e.event === 'connection_reset'), 16); // the SYNs before 101.55 go first
  const quiet = await same(t, file, { tcpAttemptDelay: 0 });
  t.is(named(quiet, 'connection_pending').length, 50); // the reset one is no longer active
  await same(t, file, { tcpAttemptDelay: 0, events: ['connection_state_remove', 'connection_pending'] });
});

test('many connections, IPv4 and IPv6, bad checksums, a zero window, data on the SYN: the same events', async (t) => {
  const { writer: w } = manyConnections({ connections: 300, spacing: 0.01, step: 0.5, t0: 100 });
  new TcpFlow({ writer: w, client: '[2001:db8::1]:40000', server: '[2001:db8::2]:80', t0: 100 }).handshake();
  new TcpFlow({ writer: w, client: '[2001:db8::3]:40000', server: '[2001:db8::2]:80', t0: 100 }).syn();
  new TcpFlow({ writer: w, client: '[::ffff:a00:9]:40000', server: '[2001:db8::2]:80', t0: 100 }).syn(); // a mapped IPv4 address
  new TcpFlow({ writer: w, client: '10.3.0.1:40000', t0: 100 }).syn({ checksum: 0x1234 });
  new TcpFlow({ writer: w, client: '10.3.0.2:40000', t0: 100 }).syn({ window: 0 });
  new TcpFlow({ writer: w, client: '10.3.0.3:40000', t0: 100 }).syn({ payload: Buffer.from('x') });
  w.sortByTime();
  const file = w.write(path('many'));
  await same(t, file);
  await same(t, file, { events: undefined });
  await same(t, file, { batchEvents: 1 });
});

test('setContentsFile by uid expands a compact record: the file gets the stream', async (t) => {
  const w = new PcapWriter();
  const watched = new TcpFlow({ writer: w, client: '10.10.0.1:50000', server: '10.10.0.2:80', t0: 1, step: 0.001 });
  watched.syn();
  manyConnections({ connections: 1000, t0: 2, writer: w });
  watched.synAck({ at: 3.5 });
  watched.ack('c', { at: 3.6 });
  watched.data('c', 'GET / HTTP/1.1\r\n\r\n', { at: 3.7 });
  watched.fin('c', { at: 3.8 });
  watched.fin('s', { at: 3.9 });
  const file = w.write(path('watched'));
  const out = scratch('compact-watched.orig');
  const sensor = tcpsensor.open({ file }, { batchEvents: 16, highWaterMark: 1 });
  let answers;
  for await (const ev of sensor) {
    if (ev.event !== 'new_connection' || ev.id.orig_p !== 50000) continue;
    answers = [await sensor.getContentsFile(ev.uid, 'orig'), await sensor.setContentsFile(ev.uid, 'orig', out), await sensor.getContentsFile(ev.uid, 'orig')];
  }
  t.deepEqual(answers, [null, true, out]);
  t.is(readFileSync(out, 'latin1'), 'GET / HTTP/1.1\r\n\r\n');
});
