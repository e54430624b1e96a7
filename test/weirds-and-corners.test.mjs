// conn_weird names from the TCP analyzer, and corner cases of the state
// machine that the digest singles out (§2 "Consequences", §8). Each weird
// list is complete: every conn_weird of the connection, in order.
import test from 'ava';
import { TcpFlow, tcpOptions } from './helpers/pcap.mjs';
import { collect, named, one, scratch, tcpsensor } from './helpers/run.mjs';

const flow = (o = {}) => new TcpFlow({ t0: 100, step: 1, ...o });
let n = 0;
const run = (f, options = {}) => collect(f.write(scratch(`wc-${++n}.pcap`)), { events: 'all', ...options });
const weirds = (events) => named(events, 'conn_weird').map((e) => e.name);
const life = (events) =>
  events.filter((e) => ['connection_established', 'connection_finished', 'connection_half_finished', 'connection_reset', 'connection_rejected',
    'connection_reused', 'new_connection', 'connection_attempt', 'partial_connection'].includes(e.event)).map((e) => `${e.ts} ${e.event}`);
const final = (events) => {
  const rm = named(events, 'connection_state_remove');
  return rm.map((e) => `${e.conn.history} ${e.conn.orig.state}/${e.conn.resp.state} ${tcpsensor.connState(e.conn)}`);
};

test('simultaneous open: the crossing SYN is a reuse (SYN_seq_jump); the first connection stays S0', async (t) => {
  const f = flow();
  f.syn(); // 101
  f.packet('s', { flags: 'S', seq: 5000 }); // 102: orig SYN_SENT, seq != its start
  const events = await run(f);
  t.deepEqual(weirds(events), ['SYN_seq_jump']);
  t.deepEqual(life(events), ['101 new_connection', '102 connection_reused', '102 new_connection', '102 connection_attempt']);
  t.deepEqual(final(events), ['S 1/0 S0', 'S 1/0 S0']);
  t.is(named(events, 'new_connection')[1].id.orig_h, '10.0.0.2');
});

test('simultaneous_open: a responder SYN without ACK carrying the originator start seq is no reuse', async (t) => {
  const f = flow();
  f.syn(); // seq 1000
  f.packet('s', { flags: 'S', seq: 1000 }); // == orig StartSeq: IsReuse says no
  const events = await run(f);
  t.deepEqual(weirds(events), ['simultaneous_open']);
  t.deepEqual(life(events), ['101 new_connection', '102 connection_established']);
  t.deepEqual(final(events), ['Ss 4/4 S1']);
});

test('bad_SYN_ack: a SYN-ACK acking outside [start, last] still establishes', async (t) => {
  const f = flow();
  f.syn();
  f.synAck({ ack: 7777 });
  const events = await run(f);
  t.deepEqual(weirds(events), ['bad_SYN_ack']);
  t.deepEqual(life(events), ['101 new_connection', '102 connection_established']);
});

test('a zero-length packet from the responder while the originator is SYN_SENT leaves it INACTIVE', async (t) => {
  const f = flow();
  f.syn();
  f.packet('s', { flags: 'A', seq: 5001, ack: 1001 }); // acks the SYN before replying
  f.synAck();
  const events = await run(f);
  t.deepEqual(weirds(events), []);
  t.deepEqual(life(events), ['101 new_connection', '103 connection_established']);
  t.deepEqual(final(events), ['Sah 4/4 S1']);
});

test('repeated_SYN_with_ack, SYN_after_close, FIN_advanced_last_seq', async (t) => {
  const f = flow();
  f.syn();
  f.packet('c', { flags: 'SA', seq: 1000, ack: 1 }); // orig SYN_SENT sends SYN+ACK
  t.deepEqual(weirds(await run(f)), ['repeated_SYN_with_ack']);

  const g = flow();
  g.handshake();
  g.packet('c', { flags: 'FA', seq: 1001 });
  g.packet('c', { flags: 'FA', seq: 1006 }); // FIN moved forward
  g.packet('c', { flags: 'SA', seq: 1001 }); // SYN after our FIN (with ACK: no reuse)
  t.deepEqual(weirds(await run(g)), ['FIN_advanced_last_seq', 'SYN_after_close']);
});

test('SYN_after_reset, FIN_after_reset, data_after_reset', async (t) => {
  const f = flow();
  f.handshake();
  f.rst('c');
  f.packet('c', { flags: 'SA', seq: 1001 });
  f.packet('c', { flags: 'FA', seq: 1001 });
  f.packet('c', { flags: 'PA', seq: 1001, payload: 'late' });
  const events = await run(f);
  t.deepEqual(weirds(events), ['SYN_after_reset', 'FIN_after_reset', 'data_after_reset']);
});

test('spontaneous_FIN: a lone FIN creates a connection and raises nothing else', async (t) => {
  const f = flow();
  f.packet('c', { flags: 'FA', seq: 1000, ack: 5000 });
  const events = await run(f);
  t.deepEqual(weirds(events), ['spontaneous_FIN']);
  t.deepEqual(life(events), ['101 new_connection']);
  t.is(named(events, 'connection_half_finished').length, 0);
  t.is(named(events, 'connection_pending').length, 1);
  t.deepEqual(final(events), ['F 5/0 SH']);
});

test('TCP_christmas (SYN+RST), TCP_scale_range (window scale 15, clamped to 14)', async (t) => {
  const f = flow();
  f.packet('c', { flags: 'SR', seq: 1000 });
  // SynWeirds first; then INACTIVE -> SYN_SENT -> RESET, not a reject, peer INACTIVE.
  t.deepEqual(weirds(await run(f)), ['TCP_christmas', 'spontaneous_RST']);

  const g = flow();
  g.syn({ options: tcpOptions([{ wscale: 15 }, { nop: true }]) });
  g.synAck({ options: tcpOptions([{ wscale: 2 }, { nop: true }]) });
  g.ack('c');
  g.data('c', 'abc');
  g.packet('s', { flags: 'A', ack: 1002, window: 1 }); // 1 << 2
  g.packet('c', { flags: 'PA', seq: 1001, payload: 'abc' });
  const events = await run(g);
  t.deepEqual(weirds(events), ['TCP_scale_range']);
  const [rx] = named(events, 'tcp_rexmit');
  t.is(rx.window, 4);
});

test('window_recision: the right window edge moving back', async (t) => {
  const f = flow();
  f.handshake();
  f.packet('s', { flags: 'A', window: 1000 });
  f.packet('s', { flags: 'A', window: 500 }); // same ack: edge moves back by 500
  t.deepEqual(weirds(await run(f)), ['window_recision']);
});

test('SYN_inside_connection and SYN_seq_jump: a SYN+ACK with a new seq from an established originator', async (t) => {
  const f = flow();
  f.handshake();
  f.data('c', 'abc');
  f.packet('c', { flags: 'SA', seq: 3000 }); // ACK: no reuse; re-initialises the sequence space
  f.data('c', 'x', { seq: 3001 });
  const events = await run(f, { contentDeliverAllOrig: true });
  t.deepEqual(weirds(events), ['SYN_inside_connection', 'SYN_seq_jump']);
  // After the re-initialisation 3001 is relative 1 again.
  t.deepEqual(named(events, 'tcp_packet').slice(4).map((e) => e.seq), [0, 1]);
});

test('SYN_after_partial: a PARTIAL originator sends a SYN with its start seq and becomes SYN_SENT', async (t) => {
  const f = flow();
  f.data('c', 'abc'); // seq 1000: start 999
  f.packet('c', { flags: 'S', seq: 999 }); // == StartSeq: no reuse
  f.packet('s', { flags: 'SA', seq: 5000, ack: 1000 });
  const events = await run(f);
  t.deepEqual(weirds(events), ['SYN_inside_connection', 'SYN_after_partial']);
  t.deepEqual(life(events), ['101 new_connection', '103 connection_established']);
  t.deepEqual(final(events), ['DSh 4/4 S1']);
});

test('an RST after both FINs changes nothing but the history', async (t) => {
  const f = flow();
  f.handshake();
  f.close();
  f.rst('c');
  const events = await run(f);
  t.is(named(events, 'connection_reset').length, 0);
  t.deepEqual(final(events), ['ShAFfR 5/5 SF']);
});

test('FIN, then RST, then the peer FIN: the RST side returns to CLOSED and the connection finishes', async (t) => {
  const f = flow();
  f.handshake();
  f.fin('c'); // 104
  f.rst('c'); // 105: CLOSED -> RESET (prev CLOSED); no event
  f.fin('s'); // 106: peer RESET with prev CLOSED -> back to CLOSED
  const events = await run(f);
  t.deepEqual(life(events), ['101 new_connection', '102 connection_established', '106 connection_finished']);
  t.deepEqual(final(events), ['ShAFRf 5/5 SF']);
});

test('a responder whose first packet is an RST, against a PARTIAL originator: connection_finished', async (t) => {
  const f = flow();
  f.data('c', 'abc'); // orig PARTIAL
  f.packet('s', { flags: 'R', seq: 5000 });
  const events = await run(f);
  t.deepEqual(weirds(events), []);
  t.deepEqual(life(events), ['101 new_connection', '102 connection_finished']);
  t.deepEqual(final(events), ['Dr 3/6 RSTRH']);
});

test('connection_finished can follow connection_half_finished', async (t) => {
  const f = flow();
  f.syn(); // 101
  f.packet('c', { flags: 'F', seq: 1001 }); // 102: half_finished (peer INACTIVE)
  f.packet('s', { flags: 'FA', seq: 5000, ack: 1002 }); // 103
  const events = await run(f);
  t.deepEqual(weirds(events), ['inappropriate_FIN', 'spontaneous_FIN']);
  t.deepEqual(life(events), ['101 new_connection', '102 connection_half_finished', '103 connection_finished']);
  t.deepEqual(final(events), ['SFf 5/5 SF']);
});

test('tcp_rexmit after a ^h flip reports the other endpoint (stats stay bound to endpoint objects)', async (t) => {
  const f = flow();
  f.synAck(); // 101: the server is the originator, its stats object is "orig"
  f.ack('c'); // 102: flip; the client is the originator now
  f.data('s', 'abc'); // 103: first packet of the "resp" stats object
  f.packet('s', { flags: 'PA', seq: 5001, payload: 'abc' }); // 104: top 4 > 0
  f.packet('s', { flags: 'PA', seq: 5001, payload: 'abc' }); // 105: retransmission
  const events = await run(f, { events: ['tcp_rexmit', 'connection_flipped'] });
  t.deepEqual(events.map((e) => e.event), ['connection_flipped', 'tcp_rexmit']);
  const rx = events[1];
  // The server's retransmission, reported through the client's endpoint:
  // is_orig true (the client is the originator), data in flight and window
  // from the client's side (client last = ack = rel 1; the server's window).
  t.deepEqual([rx.is_orig, rx.seq, rx.len, rx.data_in_flight, rx.window], [true, 1, 3, 0, 65535]);
});

test('reuse after one side closed while the other is still active: active_connection_reuse; after an RST: no weird', async (t) => {
  const f = flow();
  f.handshake();
  f.fin('c'); // 104: orig closed, resp still ESTABLISHED
  f.c.seq = 7000;
  f.syn(); // 105
  t.deepEqual(weirds(await run(f)).slice(0, 1), ['active_connection_reuse']);
  t.is(named(await run(f), 'connection_reused').length, 1);

  const g = flow();
  g.handshake();
  g.rst('c'); // 104: orig RESET
  g.c.seq = 7000;
  g.syn(); // 105: within the linger, but an endpoint is RESET: no weird
  const events = await run(g);
  t.deepEqual(weirds(events), []);
  t.is(named(events, 'connection_reused').length, 1);
});

test('a creation flip never turns a packet towards 255.255.255.255 into an originator', async (t) => {
  const f = flow({ client: '255.255.255.255:40000' });
  f.data('s', 'x'); // from 10.0.0.2:80, a likely server port
  const events = await run(f, { likelyServerPorts: [80] });
  t.is(named(events, 'connection_flipped').length, 0);
  t.is(one(t, events, 'new_connection').id.orig_h, '10.0.0.2');
});

test('content delivery stays with the endpoint across a ^h flip (decided at creation)', async (t) => {
  const f = flow();
  f.synAck(); // 101: the server is the originator when the connection is made
  f.ack('c'); // 102: flip
  f.data('s', 'from-server'); // the server is the responder now
  f.data('c', 'from-client');
  const events = await run(f, { events: ['tcp_contents', 'connection_flipped'], contentDeliverAllOrig: true });
  // deliver_all_orig chose the server's reassembler (then the originator);
  // its events now say is_orig false.
  t.deepEqual(named(events, 'tcp_contents').map((e) => [e.is_orig, e.contents.toString()]), [[false, 'from-server']]);
});

test('a SYN with a data offset below 5 is never a reuse: the old connection gets bad_TCP_header_len', async (t) => {
  const f = flow();
  f.handshake();
  f.close(); // 104-106
  f.packet('c', { flags: 'S', seq: 7000, tcpFields: { dataOffset: 4 } }); // 107
  const events = await run(f);
  t.is(named(events, 'connection_reused').length, 0);
  t.is(named(events, 'new_connection').length, 1);
  t.deepEqual(weirds(events), ['bad_TCP_header_len']);
});

test('a SYN-ACK without window scaling resets the originator scale to 0', async (t) => {
  const f = flow();
  f.syn({ options: tcpOptions([{ wscale: 3 }, { nop: true }]) });
  f.synAck(); // no WS: scaling not negotiated, both scales 0
  f.ack('c', { window: 100 }); // recorded as 100, not 100 << 3
  f.data('s', 'abc');
  f.packet('s', { flags: 'PA', seq: 5001, payload: 'abc' });
  const events = await run(f, { events: ['tcp_rexmit'] });
  t.deepEqual(events.map((e) => [e.is_orig, e.window]), [[false, 100]]);
});
