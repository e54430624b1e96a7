// Sequence space (digest §3; TCPSessionAdapter init_endpoint,
// get_relative_seq, update_last_seq, update_ack_seq, init_peer;
// TCP_Endpoint::Size): 32-bit wraparound, relative numbers, endpoint sizes,
// underflow.
import test from 'ava';
import { TcpFlow } from './helpers/pcap.mjs';
import { collect, named, one, scratch } from './helpers/run.mjs';

const flow = (o = {}) => new TcpFlow({ t0: 100, step: 1, ...o });
let n = 0;
const run = (f, options = {}) => collect(f.write(scratch(`seq-${++n}.pcap`)), { events: 'all', contentDeliverAllOrig: true, contentDeliverAllResp: true, ...options });
const A = (k, c = 'a') => Buffer.alloc(k, c);

test('32-bit wraparound: ISNs just below 2^32 give continuous relative numbers and sizes', async (t) => {
  const f = flow({ isn: 0xfffffff0, serverIsn: 0xffffffff });
  f.handshake();
  f.data('c', A(20, 'a')); // rel 1..20: absolute 0xfffffff1 .. 0x00000004
  f.data('c', A(30, 'b')); // rel 21..50
  f.data('s', A(7, 'z')); // the server's data starts at absolute 0: rel 1
  f.ack('c');
  f.close();
  const events = await run(f);
  const pk = named(events, 'tcp_packet').map((e) => `${e.is_orig ? 'c' : 's'} ${e.flags} ${e.seq} ${e.ack}`);
  t.deepEqual(pk, [
    'c S 0 0', 's SA 0 1', 'c A 1 1', 'c AP 1 1', 'c AP 21 1', 's AP 1 51', 'c A 51 8',
    'c FA 51 8', 's FA 8 52', 'c A 52 9',
  ]);
  const rm = one(t, events, 'connection_state_remove');
  t.is(rm.conn.orig.size, 50);
  t.is(rm.conn.resp.size, 7);
  t.is(rm.conn.history, 'ShADdFf');
  const contents = named(events, 'tcp_contents');
  t.deepEqual(contents.map((e) => [e.is_orig, e.seq, e.contents.length]), [[true, 1, 20], [true, 21, 30], [false, 1, 7]]);
  t.is(named(events, 'conn_weird').length, 0);
});

test('wraparound on the second lap: data after the wrap is at relative 2^32 + k', async (t) => {
  // A partial connection seen from the middle: the first byte is relative 1.
  // Sending a bit more than 2^32 bytes is not practical, so cross the wrap
  // with three big jumps, each < 2^31 ahead of last.
  const f = flow({ isn: 0x10 });
  f.handshake();
  const step = 0x70000000;
  for (const k of [1, 2, 3]) f.packet('c', { flags: 'PA', seq: (0x11 + k * step) >>> 0, payload: 'x' });
  const events = await run(f, { events: ['tcp_packet', 'conn_weird'] });
  // k = 2: 0xe0000011 is ahead of last (no wrap), but with 0 wraps the
  // relative seq is (int32)(x - start) = (int32)0xe0000001 < 0: Zeek reports
  // an underflow (sign-extended) although the stream moved forward.
  // k = 3: 0x1_5000_0011 is below last numerically but ahead: one wrap,
  // rel = 2^32 + 0x50000011 - 0x10.
  t.deepEqual(named(events, 'tcp_packet').slice(3).map((e) => e.seq), [
    1 + step, Number(BigInt.asUintN(64, BigInt((0xe0000001 | 0)))), 1 + 3 * step,
  ]);
  // The first jump also leaves ~1.8 GB "above the hole" with nothing acked.
  t.deepEqual(named(events, 'conn_weird').map((e) => `${e.ts} ${e.name}`), [
    '104 above_hole_data_without_any_acks', '105 TCP_seq_underflow_or_misorder',
  ]);
});

test('size counts bytes acked but never seen, without the SYN and FIN octets', async (t) => {
  const f = flow();
  f.handshake();
  f.data('c', A(10)); // rel 1..10
  f.packet('s', { flags: 'A', ack: 2001 }); // acks rel 1001: 990 bytes never seen
  const events = await run(f, { events: ['connection_state_remove'] });
  t.is(events[0].conn.orig.size, 1000);

  const g = flow();
  g.handshake();
  g.data('c', A(10));
  g.packet('c', { flags: 'FA', seq: 2001 }); // FIN at rel 1001
  g.packet('s', { flags: 'A', ack: 2002 });
  const e2 = await run(g, { events: ['connection_state_remove'] });
  // max(last, ack) - start = 1002; minus SYN, minus FIN.
  t.is(e2[0].conn.orig.size, 1000);
});

test('a split-routing responder (only ever set up by init_peer) has size 0', async (t) => {
  const f = flow();
  f.syn();
  f.ack('c', { ack: 9001 });
  f.data('c', A(5), { ack: 9001 });
  const events = await run(f, { events: ['connection_state_remove', 'conn_weird'] });
  const rm = one(t, events, 'connection_state_remove');
  t.is(rm.conn.resp.size, 0);
  t.is(rm.conn.orig.size, 5);
  t.is(rm.conn.resp.state, 0);
});

test('seq below the start: TCP_seq_underflow_or_misorder, seq sign-extended to 64 bits, no reassembly, T', async (t) => {
  const f = flow();
  f.handshake();
  f.packet('c', { flags: 'PA', seq: 1000 - 8, payload: 'old' }); // rel -8
  const events = await run(f);
  const p = named(events, 'tcp_packet')[3];
  // (uint64)(int64)-8 = 18446744073709551608, as a JS number (2^64 after rounding).
  t.is(p.seq, Number(2n ** 64n - 8n));
  t.deepEqual(named(events, 'conn_weird').map((e) => e.name), ['TCP_seq_underflow_or_misorder']);
  t.is(named(events, 'tcp_contents').length, 0);
  // D from update_history (any payload), T from update_last_seq.
  t.is(one(t, events, 'connection_state_remove').conn.history, 'ShADT');
});

test('ack below the peer start: TCP_ack_underflow_or_misorder and rel ack 0', async (t) => {
  const f = flow();
  f.handshake();
  f.packet('s', { flags: 'A', ack: 990 }); // the client's start is 1000
  const events = await run(f);
  const p = named(events, 'tcp_packet')[3];
  t.is(p.ack, 0);
  t.deepEqual(named(events, 'conn_weird').map((e) => e.name), ['TCP_ack_underflow_or_misorder']);
});

test('a partial connection numbers the first byte seen as relative 1; init_peer makes the peer ack 1', async (t) => {
  const f = flow();
  f.data('c', 'abc'); // no SYN: start = seq - 1
  f.data('s', 'de');
  f.data('c', 'fg');
  const events = await run(f);
  t.deepEqual(named(events, 'tcp_packet').map((e) => [e.seq, e.ack]), [[1, 1], [1, 4], [4, 3]]);
  t.deepEqual(named(events, 'tcp_contents').map((e) => [e.is_orig, e.seq, e.contents.toString()]), [
    [true, 1, 'abc'], [false, 1, 'de'], [true, 4, 'fg'],
  ]);
});

test('an ack of 0 more than 1 MiB ahead is ignored; acks in an RST are not trusted', async (t) => {
  const f = flow({ isn: 0xffe00000 });
  f.handshake();
  f.data('c', A(4));
  f.packet('s', { flags: 'A', ack: 0 }); // 0 - (ISN + 5) is more than 1 MiB ahead: ignored
  const e1 = await run(f, { events: ['connection_state_remove'] });
  t.is(e1[0].conn.orig.size, 4);

  const g = flow();
  g.handshake();
  g.data('c', A(4));
  g.packet('s', { flags: 'RA', ack: 1501 }); // RST acks do not move ack_seq
  const e2 = await run(g, { events: ['connection_state_remove'] });
  t.is(e2[0].conn.orig.size, 4);
});

test('update_last_seq: far SYN/RST seqs are ignored; data after our own RST does not count', async (t) => {
  const f = flow();
  f.handshake();
  f.packet('c', { flags: 'R', seq: 1001 + 5 * 1048576 }); // more than 1 MiB ahead: last_seq unchanged
  const e1 = await run(f, { events: ['connection_state_remove'] });
  t.is(e1[0].conn.orig.size, 0);

  const g = flow();
  g.handshake();
  g.rst('c');
  g.data('c', 'abcdef'); // the sender was RESET before this packet: ignored
  const e2 = await run(g, { events: ['connection_state_remove'] });
  t.is(e2[0].conn.orig.size, 0);
});

test('a FIN is accepted whatever its distance while only the SYN was seen (> 2 GB connections)', async (t) => {
  const f = flow();
  f.handshake();
  f.packet('c', { flags: 'FA', seq: 1000 + 3000000000 }); // (int32) delta < 0
  const events = await run(f, { events: ['connection_state_remove', 'conn_weird'] });
  // 0 wraps and (int32)(seq - start) < 0: the relative seq underflows ...
  t.deepEqual(named(events, 'conn_weird').map((e) => e.name), ['TCP_seq_underflow_or_misorder']);
  // ... but last_seq moves (last == start + 1): size = 3000000001 - SYN - FIN.
  t.is(one(t, events, 'connection_state_remove').conn.orig.size, 2999999999);
});

test('size is 0 for a SYN_SENT side reset against an INACTIVE peer that acked data beyond the SYN', async (t) => {
  const f = flow();
  f.syn();
  f.packet('s', { flags: 'A', seq: 5001, ack: 1501 }); // zero-length, orig SYN_SENT: the responder stays INACTIVE
  f.packet('c', { flags: 'R', seq: 1001 }); // SYN_SENT -> RESET
  const events = await run(f, { events: ['connection_state_remove'] });
  const c = events[0].conn;
  t.deepEqual([c.orig.state, c.resp.state, c.orig.size], [6, 0, 0]);
  // Without that rule it would be 1501 - 1000 - 1 = 500.
});
