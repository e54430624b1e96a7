// Stream reassembly and tcp_contents (digest §6; TCP_Reassembler DataSent,
// AckReceived, Undelivered, Gap, CheckEOF, DataPending, DeliverBlock,
// Overlap; Reassembler NewBlock / CheckOverlap; DataBlockList Insert / Trim;
// TCPSessionAdapter ConnectionClosed / EndpointEOF).
//
// Old bytes win; contiguous data is delivered at once, one tcp_contents per
// block; ACKs settle holes into gaps (G/g and content_gap only when both
// sides are ESTABLISHED or cleanly closing) and deliver what lies beyond,
// inside the ACK packet and before its tcp_packet.
import test from 'ava';
import { TcpFlow } from './helpers/pcap.mjs';
import { collect, named, one, scratch, tcpsensor } from './helpers/run.mjs';

const flow = (o = {}) => new TcpFlow({ t0: 100, step: 1, ...o });
let n = 0;
const ALL = { events: 'all', contentDeliverAllOrig: true, contentDeliverAllResp: true };
const run = (f, options = {}) => collect(f.write(scratch(`reasm-${++n}.pcap`)), { ...ALL, ...options });
const contents = (events, side) =>
  named(events, 'tcp_contents').filter((e) => side === undefined || e.is_orig === side).map((e) => [e.seq, e.contents.toString()]);
// Sends `s` at relative seq `rel` from the client (ISN 1000) without moving the flow's seq.
const at = (f, rel, s, o = {}) => f.packet('c', { flags: 'PA', seq: 1000 + rel, payload: s, ...o });

test('out-of-order segments are delivered in order, one tcp_contents per block', async (t) => {
  const f = flow();
  f.handshake();
  at(f, 7, 'CCC');
  at(f, 1, 'AAA'); // fills the leading hole: AAA only (CCC waits for BBB)
  at(f, 4, 'BBB'); // BBB, then CCC
  const events = await run(f);
  t.deepEqual(contents(events), [[1, 'AAA'], [4, 'BBB'], [7, 'CCC']]);
  t.deepEqual(named(events, 'tcp_contents').map((e) => e.ts), [105, 106, 106]);
  // Out-of-order data below last_seq counts as retransmission (T at the 1st).
  t.is(one(t, events, 'connection_state_remove').conn.history, 'ShADT');
});

test('duplicates and consistent overlaps deliver each byte once; first-seen bytes win', async (t) => {
  const f = flow();
  f.handshake();
  at(f, 1, 'ABCDEF');
  at(f, 1, 'ABCDEF'); // duplicate
  at(f, 3, 'CDEFGH'); // overlaps 3..6, adds GH
  at(f, 2, 'BC'); // inside delivered data
  const events = await run(f, { events: ['tcp_contents', 'rexmit_inconsistency'], contentDeliverAllOrig: true });
  t.deepEqual(contents(events), [[1, 'ABCDEF'], [7, 'GH']]);
  t.is(named(events, 'rexmit_inconsistency').length, 0);
});

test('inconsistent overlap: old bytes win and rexmit_inconsistency(t1 old, t2 new, flags) is raised when requested', async (t) => {
  const f = flow();
  f.handshake();
  at(f, 1, 'ABCDEF'); // delivered, not yet acked: still buffered
  at(f, 1, 'ABXYEFGH'); // differs in 3..4; adds GH
  at(f, 12, 'XYZ'); // out of order
  f.packet('c', { flags: 'FPA', seq: 1009, payload: 'abcQQQ' }); // 9..14: QQQ overlaps XYZ; FIN
  const events = await run(f, { events: ['tcp_contents', 'rexmit_inconsistency'], contentDeliverAllOrig: true });
  t.deepEqual(contents(events), [[1, 'ABCDEF'], [7, 'GH'], [9, 'abc'], [12, 'XYZ']]);
  t.deepEqual(named(events, 'rexmit_inconsistency').map((e) => [e.t1.toString(), e.t2.toString(), e.tcp_flags]), [
    ['ABCDEF', 'ABXYEF', 'AP'],
    ['XYZ', 'QQQ', 'FAP'],
  ]);
  // Without the event requested, nothing changes in the stream.
  const quiet = await run(f, { events: ['tcp_contents'], contentDeliverAllOrig: true });
  t.deepEqual(contents(quiet), [[1, 'ABCDEF'], [7, 'GH'], [9, 'abc'], [12, 'XYZ']]);
});

test('acked data is forgotten (no inconsistency) unless tcpMaxOldSegments keeps old blocks', async (t) => {
  const f = flow();
  f.handshake();
  at(f, 1, 'ABCDEF');
  f.packet('s', { flags: 'A', ack: 1007 }); // trims ABCDEF
  at(f, 1, 'ABXDEF');
  const evs = ['tcp_contents', 'rexmit_inconsistency'];
  const plain = await run(f, { events: evs, contentDeliverAllOrig: true });
  t.deepEqual(contents(plain), [[1, 'ABCDEF']]);
  t.is(named(plain, 'rexmit_inconsistency').length, 0);
  const kept = await run(f, { events: evs, contentDeliverAllOrig: true, tcpMaxOldSegments: 10 });
  t.deepEqual(contents(kept), [[1, 'ABCDEF']]);
  t.deepEqual(named(kept, 'rexmit_inconsistency').map((e) => [e.t1.toString(), e.t2.toString()]), [['ABCDEF', 'ABXDEF']]);
});

test('a hole in the middle: the ACK settles it into a gap (G, content_gap) and delivers what follows, before its tcp_packet', async (t) => {
  const f = flow();
  f.handshake();
  at(f, 1, 'AAA');
  at(f, 7, 'CCC'); // 4..6 never seen
  f.packet('s', { flags: 'A', ack: 1010 }); // 106
  const events = await run(f, { events: ['tcp_contents', 'content_gap', 'tcp_packet', 'tcp_multiple_gap', 'connection_state_remove'], contentDeliverAllOrig: true });
  const tail = events.filter((e) => e.ts === 106 && e.event !== 'connection_state_remove').map((e) => e.event + (e.event === 'content_gap' ? `:${e.is_orig}:${e.seq}:${e.length}` : ''));
  t.deepEqual(tail, ['content_gap:true:4:3', 'tcp_contents', 'tcp_packet']);
  t.deepEqual(contents(events), [[1, 'AAA'], [7, 'CCC']]);
  const rm = one(t, events, 'connection_state_remove');
  t.is(rm.conn.history, 'ShADaG');
  t.is(rm.conn.orig.size, 9);
  // conn.log: missed_bytes is the sum of content_gap lengths.
  const log = new tcpsensor.ConnLog();
  let row;
  for (const e of events) row = log.add(e) ?? row;
  t.is(row.missed_bytes, 3);
  t.is(row.conn_state, 'S1');
});

test('gaps at the start and at the end of the stream', async (t) => {
  const f = flow();
  f.handshake();
  at(f, 4, 'DDD'); // 1..3 missing
  f.packet('s', { flags: 'A', ack: 1007 });
  at(f, 7, 'EE');
  f.packet('s', { flags: 'A', ack: 1020 }); // acks 9..19, never seen
  const events = await run(f, { events: ['tcp_contents', 'content_gap', 'connection_state_remove'], contentDeliverAllOrig: true });
  t.deepEqual(named(events, 'content_gap').map((e) => [e.seq, e.length]), [[1, 3], [9, 11]]);
  t.deepEqual(contents(events), [[4, 'DDD'], [7, 'EE']]);
  const rm = one(t, events, 'connection_state_remove');
  t.is(rm.conn.history, 'ShADaG'); // G at the 1st gap only (the 2nd is not a power of 10)
  t.is(rm.conn.orig.size, 19);
});

test('no G and no content_gap unless both sides are established: partial connections and RSTs', async (t) => {
  const f = flow();
  // A partial connection (no SYNs): orig PARTIAL.
  f.packet('c', { flags: 'PA', seq: 1001, ack: 5001, payload: 'AAA' });
  f.packet('c', { flags: 'PA', seq: 1007, ack: 5001, payload: 'CCC' });
  f.packet('s', { flags: 'A', seq: 5001, ack: 1010 });
  const e1 = await run(f, { events: ['tcp_contents', 'content_gap', 'connection_state_remove'], contentDeliverAllOrig: true });
  t.is(named(e1, 'content_gap').length, 0);
  t.deepEqual(contents(e1), [[1, 'AAA'], [7, 'CCC']]);
  t.is(one(t, e1, 'connection_state_remove').conn.history, 'Da');

  // Established, but the gap is revealed by an RST (the state machine makes
  // the responder RESET before the ack is processed).
  const g = flow();
  g.handshake();
  at(g, 1, 'AAA');
  at(g, 7, 'CCC');
  g.packet('s', { flags: 'RA', ack: 1010 });
  const e2 = await run(g, { events: ['tcp_contents', 'content_gap', 'connection_state_remove'], contentDeliverAllOrig: true });
  t.is(named(e2, 'content_gap').length, 0);
  t.deepEqual(contents(e2), [[1, 'AAA'], [7, 'CCC']]);
  t.is(one(t, e2, 'connection_state_remove').conn.history, 'ShADr');
});

test('reassembly across the 32-bit wrap, out of order', async (t) => {
  const f = flow({ isn: 0xfffffffa });
  f.handshake();
  f.packet('c', { flags: 'PA', seq: 0, payload: 'FGHIJ' }); // rel 6..10 (after the wrap)
  f.packet('c', { flags: 'PA', seq: 0xfffffffb, payload: 'ABCDE' }); // rel 1..5
  f.packet('s', { flags: 'A', ack: 5 });
  const events = await run(f, { events: ['tcp_contents', 'content_gap', 'conn_weird', 'connection_state_remove'], contentDeliverAllOrig: true });
  t.deepEqual(contents(events), [[1, 'ABCDE'], [6, 'FGHIJ']]);
  t.is(named(events, 'content_gap').length, 0);
  t.is(named(events, 'conn_weird').length, 0);
  t.is(one(t, events, 'connection_state_remove').conn.orig.size, 10);
});

test('data on the SYN starts at seq 1; data on a FIN is stream data; RST payload is not', async (t) => {
  const f = flow();
  f.syn({ payload: 'early' }); // 5 bytes at rel 1..5
  f.synAck();
  f.ack('c');
  f.data('s', 'resp');
  f.fin('c', { payload: 'bye' });
  f.packet('s', { flags: 'RA', payload: 'not-stream' });
  const events = await run(f);
  t.deepEqual(named(events, 'tcp_contents').map((e) => [e.is_orig, e.seq, e.contents.toString()]), [
    [true, 1, 'early'], [false, 1, 'resp'], [true, 6, 'bye'],
  ]);
  t.deepEqual(named(events, 'conn_weird').map((e) => e.name), ['SYN_with_data']);
});

test('connection_EOF per side; a FIN above a hole gets its EOF and connection_finished when an ACK resolves the hole', async (t) => {
  const f = flow();
  f.handshake();
  at(f, 1, 'AAA'); // 104
  f.packet('c', { flags: 'FA', seq: 1007, payload: 'CCC' }); // 105: FIN at rel 10, hole 4..6
  f.packet('s', { flags: 'A', ack: 1011 }); // 106: acks the FIN (capped at FIN - 1)
  f.packet('s', { flags: 'FA', seq: 5001, ack: 1011 }); // 107
  const events = await run(f, { events: ['tcp_contents', 'content_gap', 'connection_EOF', 'connection_finished', 'tcp_packet', 'connection_state_remove'] });
  const timeline = events.map((e) => `${e.ts} ${e.event}${e.is_orig !== undefined ? ':' + e.is_orig : ''}`);
  t.deepEqual(timeline.filter((l) => Number(l.split(' ')[0]) >= 105), [
    // The FIN's data waits above the hole: no EOF, close deferred.
    '105 tcp_packet:true',
    // The ACK: the hole becomes a gap, CCC is delivered, then the orig EOF
    // runs the deferred close (incomplete: the responder has not closed);
    // all before the ACK's own tcp_packet.
    '106 content_gap:true', '106 tcp_contents:true', '106 connection_EOF:true', '106 tcp_packet:false',
    '107 tcp_packet:false', '107 connection_EOF:false', '107 connection_finished',
    '107 connection_state_remove',
  ]);
  t.is(one(t, events, 'connection_state_remove').conn.history, 'ShADFaGf');

  // Without the resolving ACK the orig never reaches EOF and nothing finishes.
  const g = flow();
  g.handshake();
  at(g, 1, 'AAA');
  g.packet('c', { flags: 'FA', seq: 1007, payload: 'CCC' });
  const e2 = await run(g, { events: ['connection_EOF', 'connection_finished', 'connection_half_finished', 'connection_pending'] });
  t.deepEqual(e2.map((e) => e.event), ['connection_pending']);
});

test('tcpMaxAboveHoleWithoutAnyAcks: over the limit with nothing acked, weird above_hole_data_without_any_acks and deliveries stop', async (t) => {
  const mk = (size) => {
    const f = flow();
    f.handshake();
    at(f, 2, Buffer.alloc(size, 0x62)); // byte 1 missing; nothing of the client's acked
    at(f, 1, 'a'); // fills the hole
    at(f, size + 2, 'c');
    f.fin('c', { seq: 1000 + size + 3 });
    return f;
  };
  const evs = ['tcp_contents', 'conn_weird', 'content_gap', 'connection_EOF'];
  // Undelivered bytes = upper of the last block (size + 2) - delivery point (1)
  // = size + 1; the weird needs more than the limit.
  const ok = await run(mk(99), { events: evs, contentDeliverAllOrig: true, tcpMaxAboveHoleWithoutAnyAcks: 100 });
  t.deepEqual(named(ok, 'tcp_contents').map((e) => [e.seq, e.contents.length]), [[1, 1], [2, 99], [101, 1]]);
  t.is(named(ok, 'conn_weird').length, 0);
  // One byte more: the weird, the buffer is dropped and nothing more is delivered.
  const over = await run(mk(100), { events: evs, contentDeliverAllOrig: true, tcpMaxAboveHoleWithoutAnyAcks: 100 });
  t.deepEqual(named(over, 'conn_weird').map((e) => e.name), ['above_hole_data_without_any_acks']);
  t.is(named(over, 'tcp_contents').length, 0);
  // Skipping means nothing is pending: the FIN still gets its EOF.
  t.deepEqual(named(over, 'connection_EOF').map((e) => e.is_orig), [true]);
  // The default limit is 16384.
  const big = await run(mk(16384), { events: evs, contentDeliverAllOrig: true });
  t.deepEqual(named(big, 'conn_weird').map((e) => e.name), ['above_hole_data_without_any_acks']);
  const fits = await run(mk(16383), { events: evs, contentDeliverAllOrig: true });
  t.is(named(fits, 'conn_weird').length, 0);
  t.is(named(fits, 'tcp_contents').length, 3);
});

test('tcp_contents are never empty, never overlap and concatenate to the bytes sent (shuffled, duplicated, overlapping segments)', async (t) => {
  const f = flow();
  f.handshake();
  const data = Buffer.from(Array.from({ length: 600 }, (_, i) => 32 + ((i * 7) % 90)));
  // Segments of varying length, some overlapping their neighbours.
  const segs = [];
  for (let off = 0, k = 0; off < data.length; k++) {
    const len = 5 + ((k * 13) % 17);
    segs.push([Math.max(0, off - (k % 3)), Math.min(data.length, off + len)]);
    off += len;
  }
  // A fixed shuffle, with every 5th segment sent twice.
  let x = 12345;
  const order = segs.map((s, i) => [i, (x = (x * 1103515245 + 12345) % 2147483648)]).sort((a, b) => a[1] - b[1]).map(([i]) => i);
  for (const i of order) {
    const [a, b] = segs[i];
    at(f, 1 + a, data.subarray(a, b));
    if (i % 5 === 0) at(f, 1 + a, data.subarray(a, b));
  }
  f.packet('s', { flags: 'A', ack: 1001 + data.length });
  const events = await run(f, { events: ['tcp_contents', 'content_gap'], contentDeliverAllOrig: true });
  const cs = named(events, 'tcp_contents');
  let next = 1;
  for (const c of cs) {
    t.true(c.contents.length > 0);
    t.is(c.seq, next);
    next += c.contents.length;
  }
  t.deepEqual(Buffer.concat(cs.map((c) => c.contents)), data);
  t.is(named(events, 'content_gap').length, 0);
});

test('contentDeliveryPortsOrig/Resp select directions by responder port', async (t) => {
  const f = flow();
  f.handshake();
  f.data('c', 'to-server');
  f.data('s', 'to-client');
  const file = f.write(scratch('ports.pcap'));
  const e1 = await collect(file, { events: ['tcp_contents'], contentDeliveryPortsOrig: [80] });
  t.deepEqual(contents(e1), [[1, 'to-server']]);
  t.true(e1[0].is_orig);
  const e2 = await collect(file, { events: ['tcp_contents'], contentDeliveryPortsResp: [80, 443] });
  t.deepEqual(e2.map((e) => [e.is_orig, e.contents.toString()]), [[false, 'to-client']]);
  const e3 = await collect(file, { events: ['tcp_contents'], contentDeliveryPortsOrig: [81] });
  t.is(e3.length, 0);
  const e4 = await collect(file, { events: ['tcp_contents'], contentDeliverAllResp: true });
  t.deepEqual(e4.map((e) => e.is_orig), [false]);
});

test('rexmit_inconsistency ignores a lone differing byte while the peer has done nothing (keep-alives)', async (t) => {
  const f = flow();
  f.packet('c', { flags: 'A', seq: 1001, ack: 5001, payload: 'ab' }); // a partial connection: the server never sent anything
  f.packet('c', { flags: 'A', seq: 1001, ack: 5001, payload: 'x' }); // one differing byte: not reported
  f.packet('c', { flags: 'A', seq: 1002, ack: 5001, payload: 'yz' }); // overlaps [2, 3) only: one byte, not reported
  f.packet('c', { flags: 'A', seq: 1001, ack: 5001, payload: 'xy' }); // two bytes: reported
  const evs = ['rexmit_inconsistency'];
  t.deepEqual((await run(f, { events: evs })).map((e) => [e.t1.toString(), e.t2.toString()]), [['ab', 'xy']]);
  const g = flow();
  g.packet('c', { flags: 'A', seq: 1001, ack: 5001, payload: 'a' });
  g.packet('s', { flags: 'A', seq: 5001, ack: 1001 }); // the peer did something
  g.packet('c', { flags: 'A', seq: 1001, ack: 5001, payload: 'b' });
  t.deepEqual((await run(g, { events: evs })).map((e) => [e.t1.toString(), e.t2.toString()]), [['a', 'b']]);
});

test('tcpMaxInitialWindow: with nothing acked, delivered data beyond it is not held (no inconsistency check later)', async (t) => {
  const mk = (size) => {
    const f = flow();
    f.handshake();
    at(f, 1, Buffer.alloc(size, 0x61)); // delivered at once; the server acks nothing
    at(f, 1, Buffer.alloc(100, 0x62)); // a retransmission with other bytes
    return f;
  };
  const evs = { events: ['rexmit_inconsistency'] };
  // Size 20000 > 16384: BlockInserted trims the delivered data at once.
  t.is((await run(mk(20000), evs)).length, 0);
  t.is((await run(mk(16384), evs)).length, 1);
  t.is((await run(mk(20000), { ...evs, tcpMaxInitialWindow: 0 })).length, 1);
  t.is((await run(mk(20000), { ...evs, tcpMaxInitialWindow: 30000 })).length, 1);
});
