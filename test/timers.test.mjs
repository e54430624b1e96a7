// Timers in network time (digest §5; TCPSessionAdapter AttemptTimer,
// PartialCloseTimer, ExpireTimer, ResetTimer, ConnDeleteTimer/DeleteTimer;
// Session::InactivityTimer / SetInactivityTimeout; RunState dispatch_packet).
//
// Before each packet, network time becomes max(previous, packet ts) and every
// timer due by then fires; so a timer event's ts is the ts of the first packet
// at or after its due time. At end of input only the attempt and reset timers
// act; then each remaining connection gets connection_pending (if active and
// not both closed) and connection_state_remove.
import test from 'ava';
import { TcpFlow } from './helpers/pcap.mjs';
import { collect, named, one, scratch } from './helpers/run.mjs';

const flow = (o = {}) => new TcpFlow({ t0: 100, step: 1, ...o });
let n = 0;
// Adds a SYN from another client at each time, to move network time on.
function ticks(f, times) {
  times.forEach((at, i) => new TcpFlow({ writer: f.writer, client: `10.9.0.${i + 1}:5000` }).packet('c', { flags: 'S', seq: 1, at }));
}
const LIFE = ['connection_attempt', 'connection_timeout', 'connection_state_remove', 'connection_pending', 'connection_finished',
  'connection_partial_close', 'connection_reset', 'connection_established', 'connection_half_finished', 'new_connection'];
async function timeline(f, options = {}, events = LIFE) {
  const evs = await collect(f.write(scratch(`timers-${++n}.pcap`)), { events, ...options });
  return evs.filter((e) => e.id.orig_h === '10.0.0.1').map((e) => `${e.ts} ${e.event}`);
}

test('tcpAttemptDelay: 1 s instead of 5 s; 0 disables the attempt timer', async (t) => {
  const f = flow();
  f.syn(); // 101
  ticks(f, [102.5, 110]);
  t.deepEqual(await timeline(f), ['101 new_connection', '110 connection_attempt', '110 connection_state_remove']);
  t.deepEqual(await timeline(f, { tcpAttemptDelay: 1 }), ['101 new_connection', '102.5 connection_attempt', '102.5 connection_state_remove']);

  // No attempt timer: the ExpireTimer keeps re-arming (orig SYN_SENT), and
  // the session's inactivity timer (start + udp_inactivity_timeout 60 s,
  // the handshake never ended) removes it.
  const g = flow();
  g.syn(); // 101
  ticks(g, [110, 160.5, 161.5]);
  t.deepEqual(await timeline(g, { tcpAttemptDelay: 0 }), ['101 new_connection', '161.5 connection_timeout', '161.5 connection_state_remove']);
  t.deepEqual(await timeline(g, { tcpAttemptDelay: 0, udpInactivityTimeout: 20 }),
    ['101 new_connection', '160.5 connection_timeout', '160.5 connection_state_remove']);
});

test('tcpCloseDelay: connection_timeout 5 s after the last packet by default; 0 removes without a timeout event', async (t) => {
  const f = flow();
  f.handshake(); // 101-103
  f.fin('c'); // 104
  f.fin('s'); // 105: finished; delete timer at LastTime 105 + delay
  ticks(f, [109.5, 110.5]);
  t.deepEqual(await timeline(f), [
    '101 new_connection', '102 connection_established', '105 connection_finished',
    '110.5 connection_timeout', '110.5 connection_state_remove',
  ]);
  t.deepEqual(await timeline(f, { tcpCloseDelay: 2 }), [
    '101 new_connection', '102 connection_established', '105 connection_finished',
    '109.5 connection_timeout', '109.5 connection_state_remove',
  ]);
  // Zero: a plain DeleteTimer at LastTime (105), served at the next packet.
  t.deepEqual(await timeline(f, { tcpCloseDelay: 0 }), [
    '101 new_connection', '102 connection_established', '105 connection_finished', '109.5 connection_state_remove',
  ]);
});

test('with tcpCloseDelay 0 the last ACK of a close finds the connection gone and starts a new one', async (t) => {
  const f = flow();
  f.handshake();
  f.close(); // 104 FA, 105 FA, 106 A
  const tl = await timeline(f, { tcpCloseDelay: 0 });
  t.deepEqual(tl, [
    '101 new_connection', '102 connection_established', '105 connection_finished',
    '106 connection_state_remove',
    '106 new_connection',
    '106 connection_pending', '106 connection_state_remove',
  ]);
});

test('tcpInactivityTimeout: counted from the last packet, re-armed when it is not yet due', async (t) => {
  const f = flow();
  f.handshake(); // 101-103; the handshake ends at 102: timer at 102 + 30
  f.data('c', 'x'); // 104
  ticks(f, [133, 134.5]);
  // At 133 the timer (due 132) finds LastTime 104 + 30 = 134 > 133 and
  // re-arms at 134; at 134.5 it times the connection out.
  t.deepEqual(await timeline(f, { tcpInactivityTimeout: 30 }), [
    '101 new_connection', '102 connection_established', '134.5 connection_timeout', '134.5 connection_state_remove',
  ]);
  // Default 300 s: still there at end of input (the timer is dropped).
  t.deepEqual(await timeline(f), [
    '101 new_connection', '102 connection_established', '134.5 connection_pending', '134.5 connection_state_remove',
  ]);
});

test('inactivity timeout on service ports 21/22/23/513 is 1 h once established (Conn::port_inactivity_timeouts)', async (t) => {
  const f = flow({ server: '10.0.0.2:22' });
  f.handshake();
  f.data('c', 'x');
  ticks(f, [133, 134.5]);
  t.deepEqual(await timeline(f, { tcpInactivityTimeout: 30 }), [
    '101 new_connection', '102 connection_established', '134.5 connection_pending', '134.5 connection_state_remove',
  ]);
  t.deepEqual(await timeline(f, { tcpInactivityTimeout: 30, portInactivityTimeouts: {} }), [
    '101 new_connection', '102 connection_established', '134.5 connection_timeout', '134.5 connection_state_remove',
  ]);
});

test('tcpPartialCloseDelay and the end-of-input rule for the partial-close timer', async (t) => {
  const f = flow();
  f.data('c', 'abc'); // 101: orig PARTIAL
  f.fin('s'); // 102: the responder's first packet is a FIN
  ticks(f, [104.5, 111.5, 112.5]); // default: due 102 + 3 = 105
  const base = ['101 new_connection'];
  t.deepEqual(await timeline(f), [...base, '111.5 connection_partial_close', '111.5 connection_state_remove']);
  t.deepEqual(await timeline(f, { tcpPartialCloseDelay: 10 }), [...base, '112.5 connection_partial_close', '112.5 connection_state_remove']);
  // Partial-close timers do not act at termination.
  t.deepEqual(await timeline(f, { tcpPartialCloseDelay: 100 }), [...base, '112.5 connection_pending', '112.5 connection_state_remove']);
});

test('tcpResetDelay: an RST after our own FIN arms a reset timer only with connection_reset requested', async (t) => {
  const f = flow();
  f.handshake();
  f.fin('c'); // 104: orig CLOSED, incomplete close -> ExpireTimer at 104 + 6
  f.rst('c'); // 105: CLOSED -> RESET (peer not CLOSED); reset timer at 105 + delay
  ticks(f, [108, 111]);
  t.deepEqual(await timeline(f, { tcpResetDelay: 2 }), [
    '101 new_connection', '102 connection_established', '108 connection_reset', '108 connection_state_remove',
  ]);
  // Without a connection_reset handler there is no reset timer; the
  // ExpireTimer (due 110; LastTime 105 + linger 5 < 111, orig RESET) ends it.
  t.deepEqual(await timeline(f, { tcpResetDelay: 2 }, LIFE.filter((e) => e !== 'connection_reset')), [
    '101 new_connection', '102 connection_established', '111 connection_timeout', '111 connection_state_remove',
  ]);
});

test('the reset timer acts at end of input; expire and delete timers do not', async (t) => {
  const f = flow();
  f.handshake();
  f.fin('c');
  f.rst('c'); // 105; reset timer due 110, input ends at 105
  t.deepEqual(await timeline(f), [
    '101 new_connection', '102 connection_established', '105 connection_reset', '105 connection_state_remove',
  ]);

  const g = flow();
  g.handshake();
  g.close(); // finished at 105; delete timer due 110 is dropped
  t.deepEqual(await timeline(g), [
    '101 new_connection', '102 connection_established', '105 connection_finished', '106 connection_state_remove',
  ]);
});

test('an ExpireTimer ends a half-closed connection tcp_session_timer after the FIN once linger has passed', async (t) => {
  const f = flow();
  f.handshake();
  f.fin('c'); // 104: incomplete close -> ExpireTimer at LastTime 104 + tcp_session_timer 6 = 110
  // The responder is ESTABLISHED, not RESET/INACTIVE, and not closed:
  // Expire re-arms (t + 6) each time; nothing ends it but inactivity.
  ticks(f, [110.5, 117, 500]);
  t.deepEqual(await timeline(f, { tcpInactivityTimeout: 1000 }), [
    '101 new_connection', '102 connection_established', '500 connection_pending', '500 connection_state_remove',
  ]);
  // The inactivity timer survives a close: S2-like connections end by it.
  t.deepEqual(await timeline(f), [
    '101 new_connection', '102 connection_established', '500 connection_timeout', '500 connection_state_remove',
  ]);
});

test('ExpireTimer: a connection whose only packet had a bad checksum times out after tcp_SYN_timeout and linger', async (t) => {
  const f = flow();
  f.packet('c', { flags: 'S', seq: 1000, checksum: 1 }); // 101: both sides stay INACTIVE
  // ExpireTimer at 101 + 5 = 106; LastTime is 101 (creation) + linger 5 =
  // 106, which must be < t: at 106.0 it re-arms (112), at 112.5 it fires.
  ticks(f, [106, 112.5]);
  t.deepEqual(await timeline(f), ['101 new_connection', '112.5 connection_timeout', '112.5 connection_state_remove']);
});

test('network time never goes back: an older packet is processed at the current network time', async (t) => {
  const f = flow();
  f.syn(); // 101
  const g = flow({ writer: f.writer, client: '10.0.0.1:40001' });
  g.packet('c', { flags: 'S', seq: 1, at: 95 }); // older than 101
  ticks(f, [101.5]);
  const events = await collect(f.write(scratch('old-packet.pcap')), { events: LIFE });
  const nc = named(events, 'new_connection').find((e) => e.id.orig_p === 40001);
  t.is(nc.ts, 101);
  // Connection times use the packet's own timestamp ...
  t.is(nc.conn.start_time, 95);
  // ... and so does its attempt timer (95 + 5 = 100, already past): it
  // fires before the next packet.
  const at = named(events, 'connection_attempt').find((e) => e.id.orig_p === 40001);
  t.is(at.ts, 101.5);
});

test('a timer due exactly at the ts of a packet fires before that packet', async (t) => {
  const f = flow();
  f.syn({ at: 101.25 });
  ticks(f, [106.25]);
  t.deepEqual(await timeline(f), ['101.25 new_connection', '106.25 connection_attempt', '106.25 connection_state_remove']);
});
