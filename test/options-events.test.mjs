// The per-packet events: connection_SYN_packet (build_syn_packet_val),
// tcp_option / tcp_options (ParseTCPOptions), tcp_packet
// (GeneratePacketEvent) and tcp_rexmit (TCPStats_Endpoint::DataSent).
// Digest §3 (tcp_rexmit, windows), §7, §8.
import test from 'ava';
import { TcpFlow, tcpOptions, ether } from './helpers/pcap.mjs';
import { collect, named, one, scratch } from './helpers/run.mjs';

const flow = (o = {}) => new TcpFlow({ t0: 100, step: 1, ...o });
let n = 0;
const run = (f, options = {}) => collect(f.write(scratch(`opt-${++n}.pcap`)), { events: 'all', ...options });
const raw = (...bytes) => ({ raw: bytes });

test('connection_SYN_packet: every field, for the SYN and the SYN-ACK', async (t) => {
  const f = flow();
  f.syn({
    window: 29200,
    options: tcpOptions([{ mss: 1460 }, { nop: true }, { wscale: 7 }, { sackOk: true }, { ts: [12345, 0] }]),
    ip: { ttl: 51, df: false },
  });
  f.synAck({ window: 28960, options: tcpOptions([{ mss: 1400 }, { sackOk: true }, { ts: [4000000000, 12345] }, { nop: true }, { wscale: 14 }]) });
  const events = await run(f);
  const [syn, synack] = named(events, 'connection_SYN_packet');
  // size is the IP total length: 20 + 20 + 20 bytes of options.
  t.deepEqual(syn.pkt, {
    is_orig: true, DF: false, ttl: 51, size: 60, win_size: 29200, win_scale: 7, MSS: 1460, SACK_OK: true, TSval: 12345, TSecr: 0,
  });
  t.is(syn.ts, 101);
  // 4 + 2 + 10 + 1 + 3 = 20 bytes of options.
  t.deepEqual(synack.pkt, {
    is_orig: false, DF: true, ttl: 64, size: 60, win_size: 28960, win_scale: 14, MSS: 1400, SACK_OK: true, TSval: 4000000000, TSecr: 12345,
  });
});

test('connection_SYN_packet: no options gives win_scale -1, MSS 0, no TSval/TSecr; short options are skipped', async (t) => {
  const f = flow();
  // MSS with length 3 (< 4), WS with length 2 (< 3), TS with length 8 (< 10):
  // each is skipped by its length; then EOL stops the walk before the MSS.
  f.syn({ options: Buffer.from([2, 3, 9, 3, 2, 1, 8, 8, 0, 0, 0, 1, 0, 0, 0, 2, 0, 2, 4, 5, 180]) });
  f.packet('c', { flags: 'S', seq: 1000, ip: { ttl: 200 } }); // a retransmitted SYN fires it again
  const events = await run(f);
  const [a, b] = named(events, 'connection_SYN_packet');
  t.deepEqual(a.pkt, { is_orig: true, DF: true, ttl: 64, size: 64, win_size: 65535, win_scale: -1, MSS: 0, SACK_OK: false });
  t.deepEqual(b.pkt, { is_orig: true, DF: true, ttl: 200, size: 40, win_size: 65535, win_scale: -1, MSS: 0, SACK_OK: false });
});

test('connection_SYN_packet over IPv6: size is the payload length + 40; SYN weirds come first', async (t) => {
  const f = flow({ client: '[2001:db8::1]:40000', server: '[2001:db8::2]:80' });
  f.syn({ flags: 'SU', payload: 'hi' });
  const events = await run(f);
  const syn = one(t, events, 'connection_SYN_packet');
  t.deepEqual(syn.pkt, { is_orig: true, DF: false, ttl: 64, size: 62, win_size: 65535, win_scale: -1, MSS: 0, SACK_OK: false });
  const order = events.filter((e) => ['conn_weird', 'connection_SYN_packet'].includes(e.event)).map((e) => e.name ?? e.event);
  t.deepEqual(order, ['baroque_SYN', 'SYN_with_data', 'connection_SYN_packet']);
});

test('tcp_option and tcp_options: MSS, window scale, SACK-permitted, NOP, timestamps, SACK blocks, EOL', async (t) => {
  const f = flow();
  f.handshake();
  f.ack('c', {
    options: tcpOptions([
      { mss: 1460 }, { wscale: 7 }, { sackOk: true }, { nop: true }, { ts: [0xfffffffe, 7] },
      { sack: [[4294967000, 4294967295], [3, 1000]] }, { eol: true },
    ]),
  });
  const events = await run(f, { events: ['tcp_option', 'tcp_options', 'conn_weird'] });
  t.deepEqual(named(events, 'tcp_option').map((e) => [e.is_orig, e.opt, e.optlen]), [
    [true, 2, 4], [true, 3, 3], [true, 4, 2], [true, 1, 1], [true, 8, 10], [true, 5, 18], [true, 0, 1],
  ]);
  const opts = one(t, events, 'tcp_options');
  t.true(opts.is_orig);
  t.is(opts.ts, 104);
  // SACK edges are the raw absolute 32-bit values.
  t.deepEqual(opts.options, [
    { kind: 2, length: 4, mss: 1460 },
    { kind: 3, length: 3, window_scale: 7 },
    { kind: 4, length: 2 },
    { kind: 1, length: 1 },
    { kind: 8, length: 10, send_timestamp: 0xfffffffe, echo_timestamp: 7 },
    { kind: 5, length: 18, sack: [4294967000, 4294967295, 3, 1000] },
    { kind: 0, length: 1 },
  ]);
  // All tcp_option events come before tcp_options.
  t.deepEqual(events.map((e) => e.event), [...Array(7).fill('tcp_option'), 'tcp_options']);
});

test('tcp_options: kind 27, unknown kinds with data, valid UTO/AO/TFO without data, length-1 options, overrun dropped silently', async (t) => {
  const f = flow();
  f.handshake();
  f.ack('c', {
    options: tcpOptions([
      raw(27, 8, 9, 200, 0xde, 0xad, 0xbe, 0xef), // quick-start response: rate 9, ttl_diff 200, nonce
      raw(253, 4, 0xca, 0xfe), // unknown kind: data
      raw(28, 4, 0x80, 0x10), // UTO
      raw(29, 4, 1, 2), // AO
      raw(34, 2), // TFO request
      raw(200, 1), // length 1 on kind >= 2: accepted; the next option starts at its length byte
      raw(254, 20, 1), // overruns the header: dropped, no weird
    ]),
  });
  const events = await run(f, { events: ['tcp_option', 'tcp_options', 'conn_weird'] });
  t.deepEqual(named(events, 'tcp_option').map((e) => [e.opt, e.optlen]), [[27, 8], [253, 4], [28, 4], [29, 4], [34, 2], [200, 1], [1, 1]]);
  t.deepEqual(one(t, events, 'tcp_options').options, [
    { kind: 27, length: 8, rate: 9, ttl_diff: 200, qs_nonce: 0xdeadbeef },
    { kind: 253, length: 4, data: Buffer.from([0xca, 0xfe]) },
    { kind: 28, length: 4 },
    { kind: 29, length: 4 },
    { kind: 34, length: 2 },
    { kind: 200, length: 1 },
    { kind: 1, length: 1 },
  ]);
  t.is(named(events, 'conn_weird').length, 0);
});

test('tcp_options: invalid lengths of known kinds carry their data and raise tcp_option_*_invalid_len', async (t) => {
  const f = flow();
  f.handshake();
  f.ack('c', {
    options: tcpOptions([
      raw(2, 3, 5), // MSS length 3
      raw(3, 4, 7, 7), // window scale length 4
      raw(4, 3, 1), // SACK-permitted length 3
      raw(5, 12, 0, 0, 0, 1, 0, 0, 0, 2, 9, 9), // SACK length 12
      raw(8, 8, 1, 2, 3, 4, 5, 6), // timestamps length 8
    ]), // 3 + 4 + 3 + 12 + 8 = 30 bytes, padded with two zero bytes: an EOL
  });
  f.ack('c', {
    options: tcpOptions([
      raw(27, 6, 1, 2, 3, 4), // quick-start length 6
      raw(28, 3, 1), // UTO length 3
      raw(29, 3, 1), // AO length 3
      raw(34, 4, 1, 2), // TFO length 4
      raw(2, 1), // MSS length 1: accepted, invalid, no data
    ]), // 6 + 3 + 3 + 4 + 2 (the "1" that follows parses as a NOP) = 18 -> padded to 20
  });
  const events = await run(f, { events: ['tcp_options', 'conn_weird'] });
  const [a, b] = named(events, 'tcp_options');
  t.deepEqual(a.options, [
    { kind: 2, length: 3, data: Buffer.from([5]) },
    { kind: 3, length: 4, data: Buffer.from([7, 7]) },
    { kind: 4, length: 3, data: Buffer.from([1]) },
    { kind: 5, length: 12, data: Buffer.from([0, 0, 0, 1, 0, 0, 0, 2, 9, 9]) },
    { kind: 8, length: 8, data: Buffer.from([1, 2, 3, 4, 5, 6]) },
    { kind: 0, length: 1 },
  ]);
  t.deepEqual(b.options, [
    { kind: 27, length: 6, data: Buffer.from([1, 2, 3, 4]) },
    { kind: 28, length: 3, data: Buffer.from([1]) },
    { kind: 29, length: 3, data: Buffer.from([1]) },
    { kind: 34, length: 4, data: Buffer.from([1, 2]) },
    { kind: 2, length: 1 },
    { kind: 1, length: 1 },
    { kind: 0, length: 1 },
  ]);
  // The weirds are raised while the list is built: before its tcp_options.
  t.deepEqual(events.map((e) => e.name ?? e.event), [
    'tcp_option_mss_invalid_len', 'tcp_option_window_scale_invalid_len', 'tcp_option_sack_invalid_len',
    'tcp_option_sack_blocks_invalid_len', 'tcp_option_timestamps_invalid_len', 'tcp_options',
    'tcp_option_qsresponse_invalid_len', 'tcp_option_uto_invalid_len', 'tcp_option_ao_invalid_len',
    'tcp_option_tfo_invalid_len', 'tcp_option_mss_invalid_len', 'tcp_options',
  ]);
  // Those weirds exist only where tcp_options is handled.
  const onlyOption = await run(f, { events: ['tcp_option', 'conn_weird'] });
  t.is(named(onlyOption, 'conn_weird').length, 0);
});

test('tcp_options: not parsed for a header without options, nor for a bad-checksum packet', async (t) => {
  const f = flow();
  f.handshake();
  f.ack('c', { options: tcpOptions([{ mss: 1 }]), checksum: 0xbad });
  const events = await run(f, { events: ['tcp_option', 'tcp_options'] });
  t.is(events.length, 0);
});

test('tcp_packet: flags in S F R A P U order, relative seq/ack, ack 0 without ACK, ECE/CWR not shown', async (t) => {
  const f = flow();
  f.handshake();
  f.packet('c', { flags: 'UPARFSEC', seq: 1001, ack: 5001, payload: 'z' });
  f.packet('s', { flags: 'P', seq: 5001, ack: 1234567, payload: 'q' }); // no ACK flag: ack reported 0
  const events = await run(f, { events: ['tcp_packet'] });
  t.deepEqual(events.map((e) => [e.is_orig, e.flags, e.seq, e.ack, e.len, e.payload.toString()]), [
    [true, 'S', 0, 0, 0, ''],
    [false, 'SA', 0, 1, 0, ''],
    [true, 'A', 1, 1, 0, ''],
    // A SYN in ESTABLISHED re-initialises the sender's start to this seq: rel 0.
    [true, 'SFRAPU', 0, 1, 1, 'z'],
    [false, 'P', 1, 0, 1, 'q'],
  ]);
});

test('tcp_packet: len is the IP payload length, payload the captured bytes; Ethernet padding is not payload', async (t) => {
  const f = flow();
  f.handshake();
  f.data('c', Buffer.alloc(100, 0x61), { caplen: 40 + 30 }); // snaplen cut after 30 payload bytes
  const padded = flow({ link: (p) => Buffer.concat([ether(p), Buffer.alloc(6)]) });
  padded.handshake(); // 54-byte frames padded to 60
  const events = await run(f, { events: ['tcp_packet', 'conn_weird', 'connection_state_remove'] });
  const p = named(events, 'tcp_packet')[3];
  t.is(p.len, 100);
  t.deepEqual(p.payload, Buffer.alloc(30, 0x61));
  // The data is not given to reassembly (captured < len).
  t.deepEqual(named(events, 'conn_weird').map((e) => e.name), ['truncated_tcp_payload']);
  const e2 = await run(padded, { events: ['tcp_packet', 'connection_state_remove'] });
  t.deepEqual(named(e2, 'tcp_packet').map((e) => [e.len, e.payload.length]), [[0, 0], [0, 0], [0, 0]]);
  const rm = one(t, e2, 'connection_state_remove');
  t.is(rm.conn.history, 'ShA');
  t.is(rm.conn.orig.num_bytes_ip, 80);
});

test('tcp_rexmit: seq, len, data_in_flight and the receiver window; pure ACKs at the top fire it with len 0', async (t) => {
  const f = flow();
  f.syn({ ip: { id: 100 } }); // first packet of the direction: its IP ID is remembered
  f.synAck({ ip: { id: 7000 } });
  f.ack('c', { ip: { id: 101 } }); // top 1 > max 0
  f.data('c', 'abcdef', { ip: { id: 102 } }); // top 7
  f.packet('s', { flags: 'A', ack: 1004, window: 1234, ip: { id: 7001 } }); // records the window 1234 (no WS)
  f.packet('c', { flags: 'PA', seq: 1001, payload: 'abcdef', ip: { id: 103 } }); // rexmit
  f.ack('c', { ip: { id: 104 } }); // pure ACK at the top (7): len 0
  const events = await run(f, { events: ['tcp_rexmit'] });
  t.deepEqual(events.map((e) => [e.ts, e.is_orig, e.seq, e.len, e.data_in_flight, e.window]), [
    // data_in_flight = last (rel 7) - acked (rel 4)
    [106, true, 1, 6, 3, 1234],
    [107, true, 7, 0, 3, 1234],
  ]);
});

test('tcp_rexmit IP-ID rules: a repeated ID is a replay, a small backwards step is reordering', async (t) => {
  const f = flow();
  f.syn({ ip: { id: 100 } });
  f.synAck({ ip: { id: 1 } });
  f.data('c', 'abc', { ip: { id: 101 } });
  const again = (id) => f.packet('c', { flags: 'PA', seq: 1001, payload: 'abc', ip: { id } });
  again(102); // fires
  again(102); // same ID: replay, no event
  again(50); // -52: reordered, no event, last ID stays 102
  again(103); // +1 from 102: fires
  again(0x0167); // +0x100 from 0x67 big-endian, or +1 byte-swapped: the smaller, +1, fires
  again(0x0067); // -0x100 big-endian, -1 byte-swapped: the smaller magnitude is -1: reordered
  again(400); // fires
  const events = await run(f, { events: ['tcp_rexmit'] });
  t.deepEqual(events.map((e) => e.ts), [104, 107, 108, 110]);
});

test('tcp_rexmit: the SYN counts seq + 1; a retransmitted SYN fires at the second repeat; IPv6 never fires', async (t) => {
  const f = flow();
  f.syn();
  f.packet('c', { flags: 'S', seq: 1000 }); // top 1 > max 0: no event, max 1
  f.packet('c', { flags: 'S', seq: 1000 }); // top 1 <= 1: fires, seq 1
  const events = await run(f, { events: ['tcp_rexmit'] });
  // data_in_flight: last (start + 1) - ack (start) = 1; no window recorded.
  t.deepEqual(events.map((e) => [e.ts, e.seq, e.len, e.data_in_flight, e.window]), [[103, 1, 0, 1, 0]]);

  const g = flow({ client: '[2001:db8::1]:40000', server: '[2001:db8::2]:80' });
  g.handshake();
  g.data('c', 'abc');
  g.packet('c', { flags: 'PA', seq: 1001, payload: 'abc' });
  g.packet('c', { flags: 'PA', seq: 1001, payload: 'abc' });
  t.is(named(await run(g), 'tcp_rexmit').length, 0);
});

test('tcp_rexmit: len is the captured payload length; the window is scaled by the sender SYN shift', async (t) => {
  const f = flow();
  f.syn({ options: tcpOptions([{ wscale: 2 }, { nop: true }]) });
  f.synAck({ options: tcpOptions([{ wscale: 3 }, { nop: true }]) });
  f.ack('c');
  f.data('c', Buffer.alloc(100, 1));
  f.packet('s', { flags: 'A', ack: 1011, window: 100 }); // 100 << 3 = 800
  f.packet('c', { flags: 'PA', seq: 1001, payload: Buffer.alloc(100, 1), caplen: 40 + 20 }); // 20 of 100 payload bytes captured
  const events = await run(f, { events: ['tcp_rexmit'] });
  t.deepEqual(events.map((e) => [e.seq, e.len, e.data_in_flight, e.window]), [[1, 20, 90, 800]]);
});

test('tcp_rexmit: without window scaling, seq numbers of 2^31 and more keep the recorded window at 0', async (t) => {
  const f = flow({ serverIsn: 3000000000 });
  f.handshake();
  f.data('c', 'abc');
  f.ack('s', { window: 777 }); // seq 3000000001: (int32)(seq - 0) < 0, not recorded
  f.packet('c', { flags: 'PA', seq: 1001, payload: 'abc' });
  const events = await run(f, { events: ['tcp_rexmit'] });
  t.deepEqual(events.map((e) => [e.seq, e.len, e.window]), [[1, 3, 0]]);
});
