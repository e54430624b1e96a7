// Zeek tunables not covered elsewhere: tcp_SYN_timeout, tcp_session_timer,
// tcp_connection_linger, tcp_storm_thresh / _interarrival_thresh,
// tcp_excessive_data_without_further_acks, frag_timeout and the per-connection
// weird sampling (Weird::sampling_threshold / _rate / _duration; WeirdState.cc
// PermitWeird).
import test from 'ava';
import { TcpFlow, PcapWriter, ether, ipv4, tcp, fragmentIPv4 } from './helpers/pcap.mjs';
import { collect, collectWithStats, named, scratch } from './helpers/run.mjs';

const flow = (o = {}) => new TcpFlow({ t0: 100, step: 1, ...o });
let n = 0;
const run = (f, options = {}) => collect(f.write(scratch(`tun-${++n}.pcap`)), { events: 'all', ...options });
function ticks(f, times) {
  times.forEach((at, i) => new TcpFlow({ writer: f.writer, client: `10.9.0.${i + 1}:5000` }).packet('c', { flags: 'S', seq: 1, at }));
}
const mine = (events, name) => named(events, name).filter((e) => e.id.orig_h === '10.0.0.1');
const weirds = (events) => mine(events, 'conn_weird').map((e) => e.name);

test('tcpSYNTimeout: the first ExpireTimer of a connection that never got going', async (t) => {
  const f = flow();
  f.packet('c', { flags: 'S', seq: 1000, checksum: 1 }); // 101: both sides INACTIVE
  ticks(f, [102.5, 106.5, 109]);
  // Default 5 s: due 106; LastTime 101 + linger 5 = 106 < 106.5 -> timeout.
  t.deepEqual(mine(await run(f), 'connection_timeout').map((e) => e.ts), [106.5]);
  // 1 s: due 102; at 102.5, 106 < 102.5 fails: re-armed at 102.5 + 6 = 108.5.
  t.deepEqual(mine(await run(f, { tcpSYNTimeout: 1 }), 'connection_timeout').map((e) => e.ts), [109]);
});

test('tcpSessionTimer and tcpConnectionLinger: the ExpireTimer after an incomplete close', async (t) => {
  const f = flow();
  f.handshake();
  f.fin('c'); // 104: ExpireTimer at 104 + session timer
  f.rst('c'); // 105: CLOSED -> RESET (no connection_reset requested: no reset timer)
  ticks(f, [107, 109, 111]);
  const evs = ['conn_weird', 'connection_timeout', 'connection_state_remove'];
  t.deepEqual(mine(await run(f, { events: evs }), 'connection_timeout').map((e) => e.ts), [111]);
  // Timer due 106, fires at 107: LastTime 105 + linger 1 < 107, orig RESET -> timeout.
  t.deepEqual(mine(await run(f, { events: evs, tcpSessionTimer: 2, tcpConnectionLinger: 1 }), 'connection_timeout').map((e) => e.ts), [107]);
  // Linger 5 with the 2 s timer: at 107, 110 < 107 fails -> re-armed 109; at 109 fails -> 111; at 111 fires.
  t.deepEqual(mine(await run(f, { events: evs, tcpSessionTimer: 2 }), 'connection_timeout').map((e) => e.ts), [111]);
});

test('tcpConnectionLinger: reuse after close is premature only within the linger', async (t) => {
  const f = flow();
  f.handshake();
  f.close(); // 104-106; LastTime 105
  f.c.seq = 7000;
  f.syn(); // 107
  const w = (o) => run(f, { events: ['conn_weird', 'connection_reused'], ...o });
  t.deepEqual((await w()).map((e) => e.name ?? e.event), ['premature_connection_reuse', 'connection_reused']);
  t.deepEqual((await w({ tcpConnectionLinger: 1 })).map((e) => e.name ?? e.event), ['connection_reused']);
});

test('tcpStormThresh: FIN_storm / RST_storm when the n-th FIN/RST comes within the interarrival threshold', async (t) => {
  const f = flow({ step: 0.1 });
  f.handshake();
  for (let i = 0; i < 4; i++) f.packet('c', { flags: 'FA', seq: 1001 });
  t.deepEqual(weirds(await run(f, { tcpStormThresh: 3 })), ['FIN_storm', 'FIN_storm']);
  t.deepEqual(weirds(await run(f)), []);
  // Slower than the interarrival threshold: no storm.
  t.deepEqual(weirds(await run(f, { tcpStormThresh: 3, tcpStormInterarrivalThresh: 0.05 })), []);

  const g = flow({ step: 0.1 });
  g.handshake();
  for (let i = 0; i < 3; i++) g.packet('s', { flags: 'R', seq: 5001 });
  t.deepEqual(weirds(await run(g, { tcpStormThresh: 2 })), ['RST_storm', 'RST_storm']);
});

test('tcpExcessiveDataWithoutFurtherAcks: too much buffered data stops deliveries', async (t) => {
  const f = flow();
  f.handshake();
  f.data('c', 'a'.repeat(60)); // delivered, still buffered (not acked)
  f.data('c', 'b'.repeat(60)); // 120 bytes buffered > 100
  f.data('c', 'c'.repeat(5));
  const events = await run(f, { contentDeliverAllOrig: true, tcpExcessiveDataWithoutFurtherAcks: 100 });
  t.deepEqual(weirds(events), ['excessive_data_without_further_acks']);
  // The second block is delivered before the check; nothing after it.
  t.deepEqual(named(events, 'tcp_contents').map((e) => [e.seq, e.contents.length]), [[1, 60], [61, 60]]);
  const plain = await run(f, { contentDeliverAllOrig: true });
  t.is(named(plain, 'tcp_contents').length, 3);
});

test('fragTimeout: a fragment set expires frag_timeout after its first fragment', async (t) => {
  const syn = ipv4({ src: '10.0.0.1', dst: '10.0.0.2', df: false, id: 9, payload: tcp({ sport: 40000, dport: 80, seq: 1000, flags: 'S', src: '10.0.0.1', dst: '10.0.0.2' }) });
  const [a, b] = fragmentIPv4(syn, [[0, 8], [8, 20]]);
  const w = new PcapWriter();
  w.add(101, ether(a));
  w.add(150, ether(b));
  const file = w.write(scratch('frag-timeout.pcap'));
  t.is(named(await collect(file, { events: 'all' }), 'new_connection').length, 1); // default 5 min
  t.is(named(await collect(file, { events: 'all', fragTimeout: 30 }), 'new_connection').length, 0);
});

test('weird sampling per connection: 25 per name, then every 1000th, counts restart after the duration', async (t) => {
  const mk = (extra) => {
    const f = flow({ step: 0.001 });
    f.handshake();
    f.rst('c');
    // Each data packet after our own RST: data_after_reset.
    for (let i = 0; i < extra; i++) f.packet('c', { flags: 'PA', seq: 1001 + i, payload: 'x' });
    return f;
  };
  const count = (events) => weirds(events).filter((x) => x === 'data_after_reset').length;
  t.is(count(await run(mk(30))), 25);
  t.is(count(await run(mk(30), { weirdSamplingThreshold: 3 })), 3);
  // Rate 5: above the threshold, every 5th: counts 30 and 35 of 36.
  t.is(count(await run(mk(36), { weirdSamplingRate: 5 })), 27);
  t.is(count(await run(mk(1030))), 26); // the 1025th
  // After the duration (from the first sampled-out weird) the count restarts.
  const f = mk(30);
  f.packet('c', { flags: 'PA', seq: 2001, payload: 'x', at: 120 });
  t.is(count(await run(f, { weirdSamplingDuration: 10, tcpCloseDelay: 100 })), 26);
  t.is(count(await run(f, { tcpCloseDelay: 100 })), 25);
});
