// Zeek's per-endpoint state machine and the connection lifecycle events,
// on crafted packets. Every expectation is derived from Zeek's
// TCPSessionAdapter (UpdateInactiveState, UpdateSYN_SentState,
// UpdateEstablishedState, UpdateClosedState, ConnectionClosed, the timers,
// IsReuse) as summarised in shared/spec/ZEEK-SEMANTICS.md §1, §2, §5.
//
// Conventions: client 10.0.0.1:40000 (ISN 1000), server 10.0.0.2:80
// (ISN 5000); packets one second apart from t=101 unless `at` is given.
// IPv4 + TCP without options = 40 bytes of IP per bare packet.
import test from 'ava';
import { TcpFlow } from './helpers/pcap.mjs';
import { collect, named, one, scratch, tcpsensor } from './helpers/run.mjs';

const flow = (o = {}) => new TcpFlow({ t0: 100, step: 1, ...o });
const EP0 = { size: 0, state: 0, num_pkts: 0, num_bytes_ip: 0 };
const lifecycle = (events) =>
  events.filter((e) => !['tcp_packet', 'tcp_option', 'tcp_options', 'connection_SYN_packet', 'tcp_rexmit', 'new_connection_contents'].includes(e.event));
const seqOf = (events) => lifecycle(events).map((e) => `${e.ts} ${e.event}${e.name ? ':' + e.name : ''}${e.is_orig !== undefined ? ':' + e.is_orig : ''}`);

test('connection_attempt: an unanswered SYN is cut tcp_attempt_delay (5 s) later, at the next packet', async (t) => {
  const f = flow();
  f.syn(); // t=101
  // Another connection's packet at 107 advances network time past 106.
  const g = flow({ writer: f.writer, client: '10.0.0.3:40001', t0: 106 });
  g.syn(); // t=107
  const events = await collect(f.write(scratch('attempt.pcap')), { events: 'all' });
  const a = named(events, 'connection_attempt');
  t.is(a.length, 2);
  // First: the timer due at 106 fires before the packet at 107 is processed.
  t.is(a[0].ts, 107);
  t.deepEqual(a[0].id, { orig_h: '10.0.0.1', orig_p: 40000, resp_h: '10.0.0.2', resp_p: 80 });
  t.deepEqual(a[0].conn, {
    history: 'S', orig: { size: 0, state: 1, num_pkts: 1, num_bytes_ip: 40 }, resp: EP0, start_time: 101, duration: 0,
  });
  // Second: at end of input the attempt timer still acts (only 0 s passed).
  t.is(a[1].ts, 107);
  t.is(a[1].id.orig_h, '10.0.0.3');
  t.deepEqual(seqOf(events), [
    '101 new_connection',
    '107 connection_attempt', '107 connection_state_remove',
    '107 new_connection',
    '107 connection_attempt', '107 connection_state_remove',
  ]);
});

test('handshake, data and FINs: established, first_ACK, EOF per side, finished, then connection_timeout 5 s later', async (t) => {
  const f = flow();
  f.handshake(); // 101 S, 102 SA, 103 A
  f.data('c', 'hello'); // 104
  f.data('s', 'world!'); // 105
  f.close(); // 106 FA c, 107 FA s, 108 A c
  const g = flow({ writer: f.writer, client: '10.0.0.3:40001', t0: 119 });
  g.syn(); // 120
  const events = await collect(f.write(scratch('lifecycle.pcap')), { events: 'all' });
  const mine = events.filter((e) => e.id.orig_h === '10.0.0.1');
  t.deepEqual(seqOf(mine), [
    '101 new_connection',
    // The SYN-ACK from an INACTIVE responder to a SYN_SENT originator.
    '102 connection_established',
    // The originator's first ACK; it was ESTABLISHED before this packet.
    '103 connection_first_ACK',
    // The client's FIN: nothing pending (the server's data was acked by the
    // FIN itself, before EOF is checked), so EOF; the close is incomplete
    // (the peer has not closed), so only an ExpireTimer is armed.
    '106 connection_EOF:true',
    '107 connection_EOF:false',
    // Second FIN: close complete, peer not INACTIVE -> connection_finished.
    '107 connection_finished',
    // ConnDeleteTimer at LastTime (107) + tcp_close_delay (5) = 112 fires at
    // the next packet (120); the session's active flag is never cleared.
    '120 connection_timeout',
    '120 connection_state_remove',
  ]);
  const est = one(t, mine, 'connection_established');
  t.is(est.conn.history, 'Sh');
  t.is(est.conn.orig.state, 4);
  t.is(est.conn.resp.state, 4);
  t.is(one(t, mine, 'connection_first_ACK').conn.history, 'ShA');
  const rm = one(t, mine, 'connection_state_remove');
  t.deepEqual(rm.conn, {
    history: 'ShADdFf',
    orig: { size: 5, state: 5, num_pkts: 5, num_bytes_ip: 205 },
    resp: { size: 6, state: 5, num_pkts: 3, num_bytes_ip: 126 },
    start_time: 101,
    // LastTime does not advance for the ACK after both FINs.
    duration: 6,
  });
});

test('connection_rejected: SYN answered by RST-ACK; a REJ still present at end of input gets connection_pending', async (t) => {
  const f = flow();
  f.syn(); // 101
  f.packet('s', { flags: 'RA', seq: 0, ack: 1001 }); // 102
  const events = await collect(f.write(scratch('rejected.pcap')), { events: 'all' });
  t.deepEqual(seqOf(events), [
    '101 new_connection',
    '102 connection_rejected',
    // The RST-sending side is RESET with nothing pending.
    '102 connection_EOF:false',
    // rejected does not clear is_active; the ConnDeleteTimer (107) is
    // dropped at termination, so the connection is flushed as pending.
    '102 connection_pending',
    '102 connection_state_remove',
  ]);
  const rm = one(t, events, 'connection_state_remove');
  t.is(rm.conn.history, 'Sr');
  t.is(rm.conn.orig.state, 1);
  t.is(rm.conn.resp.state, 6);
  // The RST's seq 0 initialises the responder at start 0xffffffff: size 0.
  t.is(rm.conn.resp.size, 0);
});

test('connection_reset: RST after the handshake; a second RST from the peer is silent', async (t) => {
  const f = flow();
  f.handshake(); // 101-103
  f.rst('c'); // 104: orig ESTABLISHED -> RESET, connection_reset
  f.rst('s'); // 105: resp ESTABLISHED -> RESET, peer RESET with prev ESTABLISHED: no event
  const events = await collect(f.write(scratch('reset.pcap')), { events: 'all' });
  t.deepEqual(seqOf(events), [
    '101 new_connection',
    '102 connection_established',
    '103 connection_first_ACK',
    '104 connection_reset',
    '104 connection_EOF:true',
    '105 connection_EOF:false',
    // connection_reset cleared is_active: no connection_pending.
    '105 connection_state_remove',
  ]);
  const rm = one(t, events, 'connection_state_remove');
  t.is(rm.conn.history, 'ShARr');
  t.is(rm.conn.orig.state, 6);
  t.is(rm.conn.resp.state, 6);
});

test('connection_half_finished: a FIN from a SYN_SENT originator against an INACTIVE responder', async (t) => {
  const f = flow();
  f.syn(); // 101
  f.packet('c', { flags: 'F', seq: 1001 }); // 102
  const events = await collect(f.write(scratch('half.pcap')), { events: 'all' });
  t.deepEqual(seqOf(events), [
    '101 new_connection',
    // UpdateSYN_SentState: FIN with the peer INACTIVE.
    '102 conn_weird:inappropriate_FIN',
    '102 connection_EOF:true',
    // ConnectionClosed: complete because the peer is INACTIVE; prev_state
    // SYN_SENT, so half_finished (which clears is_active: no pending, and the
    // attempt timer finds orig CLOSED).
    '102 connection_half_finished',
    '102 connection_state_remove',
  ]);
  const rm = one(t, events, 'connection_state_remove');
  t.is(rm.conn.history, 'SF');
  t.deepEqual(rm.conn.orig, { size: 0, state: 5, num_pkts: 2, num_bytes_ip: 80 });
});

test('connection_half_finished at once for SYN+FIN in one packet (history Q)', async (t) => {
  const f = flow();
  f.packet('c', { flags: 'SF', seq: 1000 }); // 101
  const events = await collect(f.write(scratch('synfin.pcap')), { events: 'all' });
  // No spontaneous_FIN (the packet has SYN); INACTIVE -> SYN_SENT -> CLOSED,
  // so prev_state is SYN_SENT and the INACTIVE peer makes it "half".
  t.deepEqual(seqOf(events), [
    '101 new_connection',
    '101 connection_EOF:true',
    '101 connection_half_finished',
    '101 connection_state_remove',
  ]);
  t.is(one(t, events, 'connection_state_remove').conn.history, 'Q');
});

test('connection_partial_close: a side whose first packet is a FIN, with the handler requested', async (t) => {
  const f = flow();
  f.data('c', 'abc'); // 101: orig INACTIVE -> PARTIAL
  f.fin('s'); // 102: resp INACTIVE -> CLOSED; close incomplete, prev_state INACTIVE
  const g = flow({ writer: f.writer, client: '10.0.0.3:40001', t0: 104 });
  g.syn(); // 105
  const evs = ['new_connection', 'connection_partial_close', 'connection_state_remove', 'connection_EOF', 'conn_weird', 'connection_timeout'];
  const events = await collect(f.write(scratch('partial-close.pcap')), { events: evs });
  const mine = events.filter((e) => e.id.orig_h === '10.0.0.1');
  t.deepEqual(seqOf(mine), [
    '101 new_connection',
    // The peer is PARTIAL: no spontaneous_FIN.
    '102 connection_EOF:false',
    // PartialCloseTimer at LastTime (102) + tcp_partial_close_delay (3) = 105.
    '105 connection_partial_close',
    '105 connection_state_remove',
  ]);
  const pc = one(t, mine, 'connection_partial_close');
  t.is(pc.conn.history, 'Df');
  t.is(pc.conn.orig.state, 3);
  t.is(pc.conn.resp.state, 5);
  t.is(pc.conn.orig.size, 3);

  // Without a connection_partial_close handler there is no such timer: the
  // connection is still there at end of input.
  const without = await collect(f.write(scratch('partial-close2.pcap')), { events: evs.filter((e) => e !== 'connection_partial_close') });
  t.deepEqual(seqOf(without.filter((e) => e.id.orig_h === '10.0.0.1')), [
    '101 new_connection', '102 connection_EOF:false', '105 connection_state_remove',
  ]);
});

test('partial_connection: both sides start without a SYN', async (t) => {
  const f = flow();
  f.data('c', 'abc'); // 101
  f.data('s', 'defg'); // 102: resp INACTIVE -> PARTIAL with the peer PARTIAL
  const events = await collect(f.write(scratch('partial.pcap')), { events: 'all' });
  t.deepEqual(seqOf(events), [
    '101 new_connection',
    '102 partial_connection',
    // partial_connection does not clear is_active.
    '102 connection_pending',
    '102 connection_state_remove',
  ]);
  const pc = one(t, events, 'partial_connection');
  t.is(pc.conn.history, 'Dd');
  t.deepEqual(pc.conn.orig, { size: 3, state: 3, num_pkts: 1, num_bytes_ip: 43 });
  t.is(pc.conn.resp.state, 3);
  t.is(pc.conn.resp.size, 4);
  // No connection_first_ACK: the originator was INACTIVE / PARTIAL.
  t.is(named(events, 'connection_first_ACK').length, 0);
});

test('connection_first_ACK comes from a SYN_SENT originator too, and only once', async (t) => {
  const f = flow();
  f.syn(); // 101
  f.ack('c'); // 102: orig SYN_SENT, ACK -> first_ACK (and possible_split_routing)
  f.ack('c', { at: 103 });
  const events = await collect(f.write(scratch('first-ack.pcap')), { events: 'all' });
  const fa = one(t, events, 'connection_first_ACK');
  t.is(fa.ts, 102);
  t.deepEqual(seqOf(events).slice(0, 3), ['101 new_connection', '102 connection_first_ACK', '102 conn_weird:possible_split_routing']);
});

test('connection_reused: a SYN after both FINs is a new connection (premature_connection_reuse within the linger)', async (t) => {
  const f = flow();
  f.handshake(); // 101-103
  f.close(); // 104 FA c, 105 FA s, 106 A c
  f.c.seq = 7000;
  f.s.seq = 9000;
  f.syn(); // 107: 107 - LastTime 105 < 5 s, no RST
  f.synAck(); // 108
  const events = await collect(f.write(scratch('reused.pcap')), { events: 'all' });
  t.deepEqual(seqOf(events), [
    '101 new_connection', '102 connection_established', '103 connection_first_ACK',
    '104 connection_EOF:true', '105 connection_EOF:false', '105 connection_finished',
    '107 conn_weird:premature_connection_reuse',
    '107 connection_reused',
    '107 connection_state_remove',
    '107 new_connection',
    '108 connection_established',
    '108 connection_pending',
    '108 connection_state_remove',
  ]);
  const [old, fresh] = named(events, 'connection_state_remove');
  t.not(old.uid, fresh.uid);
  t.is(one(t, events, 'connection_reused').uid, old.uid);
  t.is(old.conn.history, 'ShAFf');
  t.is(fresh.conn.history, 'Sh');
  t.is(fresh.conn.start_time, 107);
});

test('a second SYN with a new ISN before any answer: SYN_seq_jump and reuse', async (t) => {
  const f = flow();
  f.syn(); // 101, ISN 1000
  f.packet('c', { flags: 'S', seq: 3000 }); // 102
  const events = await collect(f.write(scratch('seq-jump.pcap')), { events: 'all' });
  // IsReuse: a SYN, neither side closed, seq != StartSeq, orig SYN_SENT.
  t.deepEqual(seqOf(events), [
    '101 new_connection',
    '102 conn_weird:SYN_seq_jump',
    '102 connection_reused',
    '102 connection_state_remove',
    '102 new_connection',
    '102 connection_attempt',
    '102 connection_state_remove',
  ]);
});

test('a new SYN into an established connection: active_connection_reuse', async (t) => {
  const f = flow();
  f.handshake();
  f.packet('c', { flags: 'S', seq: 3000 }); // 104
  const events = await collect(f.write(scratch('active-reuse.pcap')), { events: 'all' });
  t.deepEqual(seqOf(events).slice(3, 7), [
    '104 conn_weird:active_connection_reuse',
    '104 connection_reused',
    '104 connection_state_remove',
    '104 new_connection',
  ]);
});

test('a retransmitted SYN with the same ISN is not a reuse', async (t) => {
  const f = flow();
  f.syn();
  f.packet('c', { flags: 'S', seq: 1000 });
  const events = await collect(f.write(scratch('syn-rexmit.pcap')), { events: 'all' });
  t.is(named(events, 'new_connection').length, 1);
  t.is(named(events, 'connection_reused').length, 0);
  // The second SYN has the same rel seq (0): no second S; it is no
  // retransmission either (SYN with delta 0 and no payload).
  t.is(one(t, events, 'connection_state_remove').conn.history, 'S');
});

test('connection_flipped: SYN-ACK seen first, then the client ACK: history becomes ^hA', async (t) => {
  const f = flow();
  f.synAck(); // 101: the server 10.0.0.2:80 is the originator for now
  f.ack('c'); // 102: history exactly "H" and an A is recorded -> FlipRoles
  const events = await collect(f.write(scratch('flip-h.pcap')), { events: 'all' });
  const nc = one(t, events, 'new_connection');
  t.deepEqual(nc.id, { orig_h: '10.0.0.2', orig_p: 80, resp_h: '10.0.0.1', resp_p: 40000 });
  const fl = one(t, events, 'connection_flipped');
  t.is(fl.ts, 102);
  t.deepEqual(fl.id, { orig_h: '10.0.0.1', orig_p: 40000, resp_h: '10.0.0.2', resp_p: 80 });
  t.is(fl.conn.history, '^hA');
  t.deepEqual(seqOf(events), [
    '101 new_connection',
    '101 conn_weird:connection_originator_SYN_ack',
    '102 connection_flipped',
    '102 connection_pending',
    '102 connection_state_remove',
  ]);
  // The flipping packet reports its pre-flip is_orig.
  const pkts = named(events, 'tcp_packet');
  t.deepEqual(pkts.map((p) => p.is_orig), [true, false]);
  // The client (now the originator) went INACTIVE -> PARTIAL; the server
  // stays SYN_ACK_SENT.
  const rm = one(t, events, 'connection_state_remove');
  t.is(rm.conn.orig.state, 3);
  t.is(rm.conn.resp.state, 2);
});

test('ids stay right across batches and streams: a flip, one event per batch, two sensors with the same uids read in turns', async (t) => {
  // Both traces make one connection in the same pool slot with the same
  // uid (same engine seed); only the addresses differ. Identities are
  // cached across batches, so this is what would catch a stale one.
  const a = flow();
  a.synAck();
  a.ack('c');
  const b = flow({ client: '10.9.9.9:50000', server: '10.8.8.8:443' });
  b.synAck();
  b.ack('c');
  const opts = { events: 'all', batchEvents: 1, highWaterMark: 1 };
  const sa = tcpsensor.open({ file: a.write(scratch('flip-stream-a.pcap')) }, opts);
  const sb = tcpsensor.open({ file: b.write(scratch('flip-stream-b.pcap')) }, opts);
  const ia = sa[Symbol.asyncIterator]();
  const ib = sb[Symbol.asyncIterator]();
  const got = { a: [], b: [] };
  for (let done = 0; done < 2; ) {
    done = 0;
    for (const [key, it] of [['a', ia], ['b', ib]]) {
      const r = await it.next();
      if (r.done) done++;
      else got[key].push(r.value);
    }
  }
  t.is(one(t, got.a, 'new_connection').uid, one(t, got.b, 'new_connection').uid);
  const show = (e) => `${e.event} ${e.id.orig_h}:${e.id.orig_p} > ${e.id.resp_h}:${e.id.resp_p}`;
  const expect = (server, client) => [
    `new_connection ${server} > ${client}`,
    `connection_flipped ${client} > ${server}`,
    `connection_state_remove ${client} > ${server}`,
  ];
  const lifecycle = (events) => events.filter((e) => ['new_connection', 'connection_flipped', 'connection_state_remove'].includes(e.event)).map(show);
  t.deepEqual(lifecycle(got.a), expect('10.0.0.2:80', '10.0.0.1:40000'));
  t.deepEqual(lifecycle(got.b), expect('10.8.8.8:443', '10.9.9.9:50000'));
});

test('connection_flipped: data from the SYN-ACK sender after a lone SYN-ACK gives ^hd', async (t) => {
  const f = flow();
  f.synAck(); // 101
  f.data('s', 'xyz'); // 102: the server, after the flip the responder
  const events = await collect(f.write(scratch('flip-hd.pcap')), { events: 'all' });
  const fl = one(t, events, 'connection_flipped');
  t.is(fl.conn.history, '^hd');
  t.is(fl.id.orig_h, '10.0.0.1');
});

test('connection_flipped: SYN/SYN-ACK reversal (SYN-ACK, then the SYN it answers) gives Hs^ and establishes', async (t) => {
  const f = flow();
  f.synAck({ ack: 1001 }); // 101: acks the client ISN 1000 -> client start 1000 by init_peer
  f.syn(); // 102: seq 1000 == resp StartSeq: not a reuse; reversal in UpdateInactiveState
  f.ack('c'); // 103
  const events = await collect(f.write(scratch('reversal.pcap')), { events: 'all' });
  t.deepEqual(seqOf(events), [
    '101 new_connection',
    '101 conn_weird:connection_originator_SYN_ack',
    '102 connection_flipped',
    '102 connection_established',
    // The client is the originator now and was ESTABLISHED before its ACK.
    '103 connection_first_ACK',
    '103 connection_pending',
    '103 connection_state_remove',
  ]);
  const fl = one(t, events, 'connection_flipped');
  t.deepEqual(fl.id, { orig_h: '10.0.0.1', orig_p: 40000, resp_h: '10.0.0.2', resp_p: 80 });
  t.is(one(t, events, 'connection_state_remove').conn.history, 'Hs^A');
});

test('connection_flipped at creation with likelyServerPorts: flip precedes new_connection_contents and new_connection', async (t) => {
  const f = flow();
  f.synAck(); // 101 from 10.0.0.2:80
  f.ack('c'); // 102
  const file = f.write(scratch('flip-create.pcap'));
  const events = await collect(file, { events: 'all', likelyServerPorts: [80] });
  t.deepEqual(events.slice(0, 3).map((e) => e.event), ['connection_flipped', 'new_connection_contents', 'new_connection']);
  const fl = events[0];
  t.is(fl.ts, 101);
  t.deepEqual(fl.id, { orig_h: '10.0.0.1', orig_p: 40000, resp_h: '10.0.0.2', resp_p: 80 });
  // No ^h flip later: the history is "^h", not "H".
  t.is(named(events, 'connection_flipped').length, 1);
  t.is(one(t, events, 'connection_state_remove').conn.history, '^hA');

  // Both ports plausible: a non-SYN is flipped only towards the lower port;
  // a SYN-ACK never.
  const g = flow({ client: '10.0.0.1:8080' });
  g.synAck();
  const evs2 = await collect(g.write(scratch('flip-create2.pcap')), { events: 'all', likelyServerPorts: [80, 8080] });
  t.is(named(evs2, 'connection_flipped').length, 0);
  const h = flow({ client: '10.0.0.1:8080' });
  h.data('s', 'x'); // from 80 to 8080: 80 < 8080 and no SYN -> flip
  const evs3 = await collect(h.write(scratch('flip-create3.pcap')), { events: 'all', likelyServerPorts: [80, 8080] });
  t.is(named(evs3, 'connection_flipped').length, 1);
  t.is(one(t, evs3, 'new_connection').id.orig_p, 8080);
  // A pure SYN is never flipped.
  const k = flow({ client: '10.0.0.1:80', server: '10.0.0.2:40000' });
  k.syn();
  const evs4 = await collect(k.write(scratch('flip-create4.pcap')), { events: 'all', likelyServerPorts: [80] });
  t.is(named(evs4, 'connection_flipped').length, 0);
});

test('conn_weird: data_before_established, spontaneous_RST, bad_TCP_checksum', async (t) => {
  const f = flow();
  f.syn(); // 101
  f.data('c', 'early'); // 102: orig SYN_SENT sends data
  const e1 = await collect(f.write(scratch('w1.pcap')), { events: ['conn_weird'] });
  t.deepEqual(e1.map((e) => `${e.ts} ${e.name}`), ['102 possible_split_routing', '102 data_before_established']);

  const g = flow();
  g.rst('c'); // a lone RST creates the connection
  const e2 = await collect(g.write(scratch('w2.pcap')), { events: 'all' });
  t.deepEqual(seqOf(e2), [
    '101 new_connection',
    '101 conn_weird:spontaneous_RST',
    '101 connection_EOF:true',
    // Not a reject and no connection_reset; ConnectionClosed is complete
    // (RESET) but prev_state and the peer are INACTIVE: no finished event.
    '101 connection_pending',
    '101 connection_state_remove',
  ]);
  t.is(one(t, e2, 'connection_state_remove').conn.history, 'R');

  const h = flow();
  h.packet('c', { flags: 'S', seq: 1000, checksum: 0x1234 });
  const e3 = await collect(h.write(scratch('w3.pcap')), { events: 'all' });
  t.deepEqual(seqOf(e3), [
    '101 new_connection',
    '101 conn_weird:bad_TCP_checksum',
    '101 connection_pending',
    '101 connection_state_remove',
  ]);
});

test('connection_established with an INACTIVE originator (unsolicited_SYN_response)', async (t) => {
  // A bad-checksum SYN creates the connection but leaves orig INACTIVE
  // (start seq 0). A SYN-ACK from the responder is then a reuse unless its
  // seq equals the (uninitialised, 0) start of the side IsReuse looks at.
  const f = flow();
  f.packet('c', { flags: 'S', seq: 1000, checksum: 0x1234 }); // 101
  f.packet('s', { flags: 'SA', seq: 0, ack: 1001 }); // 102
  const events = await collect(f.write(scratch('unsolicited.pcap')), { events: 'all' });
  t.deepEqual(seqOf(events), [
    '101 new_connection',
    '101 conn_weird:bad_TCP_checksum',
    // SYN+ACK from an INACTIVE responder; the peer is INACTIVE, so no
    // bad_SYN_ack check, but unsolicited_SYN_response; the sender becomes
    // ESTABLISHED and, the peer not being PARTIAL, connection_established.
    '102 conn_weird:unsolicited_SYN_response',
    '102 connection_established',
    '102 connection_pending',
    '102 connection_state_remove',
  ]);
  const est = one(t, events, 'connection_established');
  t.is(est.conn.history, 'Ch');
  t.is(est.conn.orig.state, 0);
  t.is(est.conn.resp.state, 4);
});

test('a SYN-ACK into a connection whose originator is INACTIVE is a reuse (active_connection_reuse)', async (t) => {
  const f = flow();
  f.packet('c', { flags: 'S', seq: 1000, checksum: 0x1234 }); // 101
  f.synAck(); // 102: seq 5000 != the responder's start (0), responder not SYN_SENT
  const events = await collect(f.write(scratch('synack-reuse.pcap')), { events: 'all' });
  t.deepEqual(seqOf(events).slice(0, 6), [
    '101 new_connection',
    '101 conn_weird:bad_TCP_checksum',
    '102 conn_weird:active_connection_reuse',
    '102 connection_reused',
    '102 connection_state_remove',
    '102 new_connection',
  ]);
  // The new connection's originator is the SYN-ACK's sender.
  t.is(named(events, 'new_connection')[1].id.orig_h, '10.0.0.2');
});
