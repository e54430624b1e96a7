// Zeek's history string, letter by letter (TCPSessionAdapter update_history,
// TCP_Endpoint::CheckHistory / ChecksumError / DidRxmit / ZeroWindow / Gap,
// Session::CheckHistory / ScaledHistoryEntry; digest §4).
//
// Upper case: the sender is the originator; lower case: the responder.
// "Once" letters use one bit per direction; S/H, F and R come back only
// with a new relative sequence number; C, T, W and G are scaled: added at
// the 1st, 10th, 100th ... occurrence, with tcp_multiple_* at 10, 100, ...
import test from 'ava';
import { TcpFlow } from './helpers/pcap.mjs';
import { collect, named, one, scratch } from './helpers/run.mjs';

const flow = (o = {}) => new TcpFlow({ t0: 100, step: 0.01, ...o });
let n = 0;
async function history(f, options = {}) {
  const events = await collect(f.write(scratch(`history-${++n}.pcap`)), { events: 'all', ...options });
  const rm = named(events, 'connection_state_remove');
  return { events, history: rm.map((e) => e.conn.history).join(' | ') };
}
const thresholds = (events, name) => named(events, name).map((e) => `${e.is_orig}:${e.threshold}`);

test('S h A D a d F f: each once-letter once per direction, duplicates add nothing', async (t) => {
  const f = flow();
  f.handshake(); // S h A
  f.data('c', 'one'); // D
  f.ack('s'); // a
  f.data('s', 'two'); // d
  f.data('c', 'three'); // no second D
  f.ack('c'); // no second A
  f.ack('s'); // no second a
  f.close(); // F f (and an A already seen)
  const { history: h } = await history(f);
  t.is(h, 'ShADadFf');
});

test('R and r; I (FIN+RST); Q and q (other flag mixes)', async (t) => {
  const f = flow();
  f.handshake();
  f.rst('c');
  f.rst('s');
  t.is((await history(f)).history, 'ShARr');

  const g = flow();
  g.handshake();
  g.packet('c', { flags: 'FRA' }); // FIN and RST: I
  t.is((await history(g)).history, 'ShAI');

  const h = flow();
  h.handshake();
  // SYN+FIN+ACK from the responder: two of SYN/FIN/RST -> q. (With ACK and
  // an active originator it is no reuse.)
  h.packet('s', { flags: 'SFA', seq: 5001 });
  h.packet('s', { flags: 'SFA', seq: 5001 }); // once only
  t.is((await history(h)).history, 'ShAq');

  const k = flow();
  k.packet('c', { flags: 'SR', seq: 1000 }); // SYN+RST creating the connection: Q
  t.is((await history(k)).history, 'Q');
});

test('H: a SYN-ACK sent by the originator; S/H repeat only with a new relative seq', async (t) => {
  const f = flow();
  f.handshake();
  f.fin('c'); // F; orig CLOSED: a later SYN does not re-initialise its sequence space
  // SYN-ACKs from the (closed) originator: with ACK and an active... (IsReuse
  // needs an INACTIVE originator for a SYN-ACK) they are no reuse.
  f.packet('c', { flags: 'SA', seq: 1050 }); // rel 50 != last SYN's 0: H
  f.packet('c', { flags: 'SA', seq: 1050 }); // same rel seq: nothing
  f.packet('c', { flags: 'SA', seq: 1060 }); // rel 60: H again
  t.is((await history(f)).history, 'ShAFHH');
});

test('F repeats only when rel seq + len differs; R only when rel seq differs', async (t) => {
  const f = flow();
  f.handshake();
  f.packet('c', { flags: 'FA', seq: 1001 }); // rel 1: F
  f.packet('c', { flags: 'FA', seq: 1001 }); // retransmitted FIN: nothing
  f.packet('c', { flags: 'FA', seq: 1006 }); // rel 6: F again
  t.is((await history(f)).history, 'ShAFF');

  const g = flow();
  g.handshake();
  g.packet('c', { flags: 'R', seq: 1001 }); // R
  g.packet('c', { flags: 'R', seq: 1001 }); // same rel seq: nothing
  g.packet('c', { flags: 'R', seq: 1011 }); // R again
  t.is((await history(g)).history, 'ShARR');
});

test('C: checksum errors scale at 1, 10, 100 with tcp_multiple_checksum_errors at 10 and 100', async (t) => {
  const f = flow();
  f.handshake();
  for (let i = 0; i < 100; i++) f.packet('c', { flags: 'PA', payload: 'x', checksum: 0xdead });
  f.packet('s', { flags: 'A', checksum: 0xdead }); // c
  const { events, history: h } = await history(f);
  t.is(h, 'ShACCCc');
  t.deepEqual(thresholds(events, 'tcp_multiple_checksum_errors'), ['true:10', 'true:100']);
  // The bad packets are dropped entirely: no tcp_packet, not counted.
  t.is(named(events, 'tcp_packet').length, 3);
  t.is(one(t, events, 'connection_state_remove').conn.orig.num_pkts, 2);
});

test('T: retransmissions scale at 1, 10, 100 with tcp_multiple_retransmissions', async (t) => {
  const f = flow();
  f.handshake();
  f.data('c', 'abc');
  for (let i = 0; i < 100; i++) f.packet('c', { flags: 'PA', seq: 1001, payload: 'abc' });
  const { events, history: h } = await history(f);
  t.is(h, 'ShADTTT');
  t.deepEqual(thresholds(events, 'tcp_multiple_retransmissions'), ['true:10', 'true:100']);
  const marks = named(events, 'tcp_multiple_retransmissions');
  t.is(marks[0].conn.history, 'ShADTT');
});

test('T also marks keep-alives, data on a first SYN (ST) and data on an RST (rt)', async (t) => {
  const f = flow();
  f.handshake();
  f.data('c', 'abc'); // last = rel 4
  f.packet('c', { flags: 'A', seq: 1003, payload: 'c' }); // 1-byte keep-alive at last-1: T
  t.is((await history(f)).history, 'ShADT');

  const g = flow();
  g.packet('c', { flags: 'S', seq: 1000, payload: 'hello' });
  t.is((await history(g)).history, 'ST');

  const h = flow();
  h.handshake();
  h.packet('s', { flags: 'RA', seq: 5001, payload: 'bye' });
  t.is((await history(h)).history, 'ShArt');
});

test('W: zero windows scale at 1, 10, 100 (pure ACKs and SYNs count; RSTs do not)', async (t) => {
  const f = flow();
  f.handshake();
  for (let i = 0; i < 100; i++) f.packet('s', { flags: 'A', window: 0 });
  f.packet('s', { flags: 'RA', window: 0 }); // an RST never counts
  const { events, history: h } = await history(f);
  // The letter a comes first: update_history runs before update_window.
  t.is(h, 'ShAawwwr');
  t.deepEqual(thresholds(events, 'tcp_multiple_zero_windows'), ['false:10', 'false:100']);

  const g = flow();
  g.syn({ window: 0 }); // SYNs count too
  t.is((await history(g)).history, 'SW');
});

test('W after the peer closed does not count; W from a sender that closed does', async (t) => {
  const f = flow();
  f.handshake();
  f.fin('c');
  f.packet('s', { flags: 'A', window: 0 }); // peer (orig) CLOSED: no w
  t.is((await history(f)).history, 'ShAFa');

  const g = flow();
  g.handshake();
  g.fin('s');
  g.packet('s', { flags: 'A', window: 0 }); // the sender itself closed: counts
  t.is((await history(g)).history, 'ShAfaw');
});

test('G: content gaps scale at 1, 10, 100 with tcp_multiple_gap, on an established connection', async (t) => {
  const f = flow();
  f.handshake();
  // 100 one-byte holes: byte 2i+1 never seen, byte 2i+2 sent, then acked.
  for (let i = 0; i < 100; i++) {
    f.packet('c', { flags: 'PA', seq: 1001 + 2 * i + 1, payload: 'x' });
    f.packet('s', { flags: 'A', ack: 1001 + 2 * i + 2 });
  }
  const { events, history: h } = await history(f, { events: 'all' });
  t.is(h, 'ShADaGGG');
  t.deepEqual(thresholds(events, 'tcp_multiple_gap'), ['true:10', 'true:100']);
});

test('^: a history of exactly H flips on A/D; any other letter first blocks the flip', async (t) => {
  const f = flow();
  f.synAck({ window: 0 }); // H then W
  f.ack('c'); // the history is "HW", not "H": no flip
  const { events, history: h } = await history(f);
  t.is(h, 'HWa');
  t.is(named(events, 'connection_flipped').length, 0);
});

test('a flip does not move the once-bits: after ^hA a SYN-ACK from the new responder adds h again', async (t) => {
  const f = flow();
  f.synAck(); // H, on the originator's SYN bit (the server is the originator)
  f.ack('c'); // flip: ^h, then A for the client, now the originator
  // The server, now the responder, repeats its SYN-ACK (same seq). Its SYN
  // bit in the responder position was never set: h is added.
  f.packet('s', { flags: 'SA', seq: 5000, ack: 1000 });
  t.is((await history(f)).history, '^hAh');
});
