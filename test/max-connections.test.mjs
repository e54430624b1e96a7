// maxConnections: past it, a new connection first evicts the one least
// worth keeping (a half-open connection that has seen only its SYN, oldest
// first; then connections only one side has spoken in; then the rest; each
// least recently active first, to the second), which gets connection_pending
// (if still active) and connection_state_remove, and is counted.
import test from 'ava';
import { PcapWriter, TcpFlow } from './helpers/pcap.mjs';
import { collectWithStats, named, ndjson, runCli, scratch, tcpsensor } from './helpers/run.mjs';

const { open, defaultMaxConnections } = tcpsensor;
let n = 0;
const path = (name) => scratch(`maxconn-${name}-${++n}.pcap`);
const host = (i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

// `count` SYNs from distinct clients to one server, `gap` seconds apart.
function synFlood(w, count, { t0 = 100, gap = 0.0001, first = 1 } = {}) {
  for (let i = 0; i < count; i++) {
    new TcpFlow({ writer: w, client: `${host(first + i)}:${1024 + (i % 60000)}`, server: '198.51.100.1:80' })
      .syn({ at: +(t0 + i * gap).toFixed(6) });
  }
}

test('maxConnections is checked: a whole number from 1 to 2^30', (t) => {
  const file = scratch('maxconn-none.pcap');
  for (const bad of [0, -1, 1.5, 2 ** 30 + 1, Infinity]) {
    t.throws(() => open({ file }, { maxConnections: bad }), { instanceOf: RangeError, message: /maxConnections/ });
  }
  t.throws(() => open({ file }, { maxConnections: '5' }), { instanceOf: TypeError, message: /maxConnections/ });
  t.throws(() => open({ file }, { maxConnections: NaN }), { instanceOf: TypeError, message: /maxConnections/ });
});

test('the default: an eighth of memory at 1 KiB a connection, from 16,384 to 16,777,216', (t) => {
  t.is(defaultMaxConnections(8 * 2 ** 30), 1048576);
  t.is(defaultMaxConnections(24 * 2 ** 30), 3145728);
  t.is(defaultMaxConnections(64 * 2 ** 20), 16384);
  t.is(defaultMaxConnections(2 ** 40), 2 ** 24);
  t.true(defaultMaxConnections() >= 16384);
});

test('eviction order: SYN-only first (oldest first), then one-sided, then the rest, least recently active first', async (t) => {
  const w = new PcapWriter();
  const a = new TcpFlow({ writer: w, client: '10.0.0.1:1000', t0: 99.9, step: 0.01 });
  a.handshake(); // two-sided, established, at 99.91-99.93
  const one = (i, at) => new TcpFlow({ writer: w, client: `10.0.1.${i}:1000` }).packet('c', { flags: 'A', seq: 5, ack: 9, at });
  const syn = (i, at) => new TcpFlow({ writer: w, client: `10.0.2.${i}:1000` }).syn({ at });
  one(1, 101); // B: one-sided (an ACK, no answer)
  syn(1, 102); // C: SYN only
  syn(2, 103); // D: C evicted (SYN-only, the oldest)
  one(2, 104); // E: D evicted (SYN-only, though newer than B)
  one(3, 105); // F: B evicted (one-sided, idle since 101)
  one(2, 106); // E again: active at 106
  one(4, 107); // G: the idlest one-sided now is F (105), not E (106)
  one(5, 108); // H: E (106); A, two-sided, stays
  a.data('c', 'still here', { at: 108.5 });
  w.sortByTime();
  const { events, stats } = await collectWithStats(w.write(path('order')), { maxConnections: 3, events: 'all' });
  const evicted = events
    .filter((e) => e.event === 'connection_state_remove' && e.ts < 108.5)
    .map((e) => `${e.ts} ${e.id.orig_h}`);
  t.deepEqual(evicted, ['103 10.0.2.1', '104 10.0.2.2', '105 10.0.1.1', '107 10.0.1.3', '108 10.0.1.2']);
  t.is(stats.connectionsEvicted, 5);
  // Each evicted connection: connection_pending, then connection_state_remove,
  // before the new connection's first event.
  const at103 = events.filter((e) => e.ts === 103 && e.event !== 'tcp_packet').map((e) => `${e.event} ${e.id.orig_h}`);
  t.deepEqual(at103.slice(0, 3), ['connection_pending 10.0.2.1', 'connection_state_remove 10.0.2.1', 'new_connection_contents 10.0.2.2']);
  // A got its data through and is flushed at the end.
  t.true(named(events, 'tcp_packet').some((e) => e.id.orig_h === '10.0.0.1' && e.ts === 108.5));
  t.deepEqual(named(events, 'connection_state_remove').filter((e) => e.id.orig_h === '10.0.0.1').map((e) => e.ts), [108.5]);
});

test('an evicted connection whose analysis had ended gets no connection_pending', async (t) => {
  const w = new PcapWriter();
  const done = new TcpFlow({ writer: w, client: '10.0.0.1:1000', t0: 100 });
  done.handshake();
  done.close(); // finished at 100.05; removal due 5 s later
  new TcpFlow({ writer: w, client: '10.0.0.2:1000' }).packet('c', { flags: 'A', seq: 1, ack: 1, at: 101 });
  const { events } = await collectWithStats(w.write(path('ended')), { maxConnections: 1, events: 'all' });
  t.deepEqual(events.filter((e) => e.id.orig_h === '10.0.0.1' && /pending|remove|finished/.test(e.event)).map((e) => `${e.ts} ${e.event}`),
    ['100.05 connection_finished', '101 connection_state_remove']);
});

test('a legitimate connection made during a SYN flood is analysed whole', async (t) => {
  const w = new PcapWriter();
  synFlood(w, 3000, { t0: 100, gap: 0.0002 });
  const legit = new TcpFlow({ writer: w, client: '192.0.2.10:40000', server: '198.51.100.1:80', t0: 100.3, step: 0.001 });
  legit.handshake();
  legit.data('c', 'GET /legit HTTP/1.1\r\n\r\n');
  legit.data('s', 'HTTP/1.1 200 OK\r\n\r\nlegitimate');
  legit.close();
  w.sortByTime();
  const { events, stats } = await collectWithStats(w.write(path('flood')), {
    maxConnections: 100, events: ['connection_established', 'connection_finished', 'tcp_contents', 'connection_attempt'],
    contentDeliverAllOrig: true, contentDeliverAllResp: true,
  });
  const mine = events.filter((e) => e.id.orig_h === '192.0.2.10');
  t.deepEqual(mine.map((e) => e.event), ['connection_established', 'tcp_contents', 'tcp_contents', 'connection_finished']);
  t.is(Buffer.concat(named(mine, 'tcp_contents').map((e) => e.contents)).toString(), 'GET /legit HTTP/1.1\r\n\r\nHTTP/1.1 200 OK\r\n\r\nlegitimate');
  t.is(stats.connectionsEvicted, 3001 - 100);
  t.is(named(events, 'connection_attempt').length, 99); // the flood's survivors, at the end
});

test('workers: each holds an equal share', async (t) => {
  const w = new PcapWriter();
  synFlood(w, 400);
  const file = w.write(path('workers'));
  const { stats } = await collectWithStats(file, { maxConnections: 10, workers: 2, events: ['connection_pending'] });
  t.is(stats.connectionsEvicted, 390);
  t.is(stats.workers.length, 2);
  t.true(stats.workers.every((x) => x.connectionsEvicted > 150));
});

test('the CLI: --max-connections N, and its usage errors', async (t) => {
  const w = new PcapWriter();
  synFlood(w, 100);
  const file = w.write(path('cli'));
  const r = await runCli(['-r', file, '--max-connections', '5', '--events', 'connection_pending,connection_attempt']);
  t.is(r.code, 0, r.stderr);
  const out = ndjson(r.stdout);
  t.is(named(out, 'connection_pending').length, 95);
  t.is(named(out, 'connection_attempt').length, 5);
  for (const bad of ['0', '-3', '1.5', 'many', String(2 ** 30 + 1)]) {
    const u = await runCli(['-r', file, '--max-connections', bad]);
    t.is(u.code, 2, bad);
    t.regex(u.stderr, /--max-connections/);
  }
  const help = await runCli(['--help']);
  t.regex(help.stdout, /--max-connections N/);
});
