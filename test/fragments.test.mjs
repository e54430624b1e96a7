// IP fragments (Zeek src/Frag.cc, packet_analysis IP.cc): IPv4 and IPv6
// fragmented TCP segments, in order, reversed and overlapping, give the same
// events as the unfragmented packets. The datagram is analysed when its last
// missing piece arrives (at that packet's time); overlapping bytes keep what
// came first (fragment_overlap / fragment_inconsistency are counted); the
// reassembled header is the first-seen fragment's, with the total length
// fixed; an IPv6 atomic fragment (offset 0, M=0) is a complete datagram.
import test from 'ava';
import { TcpFlow, FragmentingWriter, fragmentIPv4, fragmentIPv6, PcapWriter, ether, ipv4, tcp } from './helpers/pcap.mjs';
import { collect, collectWithStats, named, one, scratch } from './helpers/run.mjs';

let n = 0;
const OPTS = { events: 'all', contentDeliverAllOrig: true, contentDeliverAllResp: true };
const V4 = { client: '10.0.0.1:40000', server: '10.0.0.2:80', ipOptions: { df: false } };
const V6 = { client: '[2001:db8::1]:40000', server: '[2001:db8::2]:80' };
const BODY = 'The quick brown fox jumps over the lazy dog, twice over: ' + 'x'.repeat(50);

function exchange(ends, writer) {
  const f = new TcpFlow({ ...ends, t0: 100, step: 0.5, ...(writer ? { writer, link: (p) => p } : {}) });
  f.handshake();
  f.data('c', BODY);
  f.data('s', 'OK ' + BODY.toUpperCase());
  f.close();
  return f;
}
const norm = (events) =>
  events.map(({ uid, ...e }) => JSON.parse(JSON.stringify(e, (k, v) => (v?.type === 'Buffer' ? Buffer.from(v.data).toString('hex') : v))));
const run = async (f) => collectWithStats(f.write(scratch(`frag-${++n}.pcap`)), OPTS);

// Byte ranges over a payload of `len` bytes: cuts at the given offsets.
const cuts = (len, at) => [0, ...at.filter((x) => x < len)].map((s, i, a) => [s, a[i + 1] ?? len]);

for (const [label, ends, frag] of [['IPv4', V4, fragmentIPv4], ['IPv6', V6, fragmentIPv6]]) {
  const payloadLen = (p) => (label === 'IPv4' ? p.readUInt16BE(2) - 20 : p.readUInt16BE(4));

  test(`${label}: fragments in order give the same events`, async (t) => {
    const ref = norm((await run(exchange(ends))).events);
    const { events, stats } = await run(exchange(ends, new FragmentingWriter((p) => frag(p, cuts(payloadLen(p), [16, 48, 96])))));
    t.deepEqual(norm(events), ref);
    t.is(stats.malformed.fragment_overlap, 0);
    t.is(stats.malformed.fragment_inconsistency, 0);
  });

  test(`${label}: fragments in reverse order give the same events`, async (t) => {
    const ref = norm((await run(exchange(ends))).events);
    const { events } = await run(exchange(ends, new FragmentingWriter((p) => frag(p, cuts(payloadLen(p), [8, 24, 64])).reverse())));
    t.deepEqual(norm(events), ref);
  });

  test(`${label}: overlapping fragments (consistent) give the same events and count fragment_overlap`, async (t) => {
    const ref = norm((await run(exchange(ends))).events);
    // [0, 24) [16, 48) [40, end): two overlaps per packet longer than 40 bytes.
    const split = (p) => {
      const len = payloadLen(p);
      return len > 40 ? frag(p, [[0, 24], [16, 48], [40, len]]) : frag(p, [[0, len]]);
    };
    const { events, stats } = await run(exchange(ends, new FragmentingWriter(split)));
    t.deepEqual(norm(events), ref);
    // The two data packets are the ones over 40 bytes of payload.
    t.is(stats.malformed.fragment_overlap, 4);
  });

  test(`${label}: inconsistent overlap keeps the first-seen bytes`, async (t) => {
    const ref = norm((await run(exchange(ends))).events);
    const genuineFirst = (p) => {
      const len = payloadLen(p);
      if (len < 60) return [p];
      const tail = label === 'IPv4' ? p.subarray(20 + 32) : p.subarray(40 + 32);
      const [a] = frag(p, [[0, 32]]);
      const [bad] = frag(p, [[24, len, Buffer.concat([Buffer.alloc(8, 0x21), tail])]]);
      return [a, bad];
    };
    const first = await run(exchange(ends, new FragmentingWriter(genuineFirst)));
    t.deepEqual(norm(first.events), ref);
    t.is(first.stats.malformed.fragment_inconsistency, 2);
  });

  test(`${label}: a fragment with bogus bytes seen first wins (and then the TCP checksum fails)`, async (t) => {
    const split = (p, i) => {
      const len = payloadLen(p);
      if (i !== 3) return [p]; // the client's data packet only
      const tail = label === 'IPv4' ? p.subarray(20 + 32) : p.subarray(40 + 32);
      const [bad] = frag(p, [[24, len, Buffer.concat([Buffer.alloc(8, 0x21), tail])]]);
      const [a] = frag(p, [[0, 32]]);
      return [bad, a];
    };
    const { events } = await run(exchange(ends, new FragmentingWriter(split)));
    t.deepEqual(named(events, 'conn_weird').map((e) => e.name), ['bad_TCP_checksum']);
    // The server then acks bytes never seen: a gap (G) on the client's side.
    t.is(one(t, events, 'connection_state_remove').conn.history, 'ShACdGFf');
  });
}

test('IPv6 atomic fragment (offset 0, M=0) is a complete datagram', async (t) => {
  const ref = norm((await run(exchange(V6))).events);
  const { events } = await run(exchange(V6, new FragmentingWriter((p) => fragmentIPv6(p, [[0, p.readUInt16BE(4)]]))));
  t.deepEqual(norm(events), ref);
});

const SYN = ipv4({ src: '10.0.0.1', dst: '10.0.0.2', df: false, id: 77, payload: tcp({ sport: 40000, dport: 80, seq: 1000, flags: 'S', src: '10.0.0.1', dst: '10.0.0.2' }) });

test('IPv4: a datagram is analysed when its last missing fragment arrives, at that time', async (t) => {
  const w = new PcapWriter();
  const [a, b] = fragmentIPv4(SYN, [[0, 8], [8, 20]]);
  w.add(101, ether(b));
  w.add(103, ether(a));
  const events = await collect(w.write(scratch('frag-time.pcap')), OPTS);
  const nc = one(t, events, 'new_connection');
  t.is(nc.ts, 103);
  t.is(nc.conn.start_time, 103);
  t.is(one(t, events, 'connection_SYN_packet').pkt.size, 40);
});

// Found by review while fuzzing: an empty fragment used to complete its
// datagram without forgetting it, so every later fragment of the same
// datagram delivered it again. Zeek's reassembler ignores an empty block
// (Reassembler::NewBlock returns for length 0): completion waits for the
// next fragment with bytes, and a completed datagram is forgotten.
test('IPv4: an empty last fragment completes nothing by itself, and a datagram is delivered once', async (t) => {
  const syn = ipv4({ src: '10.0.0.1', dst: '10.0.0.2', df: false, id: 78, payload: tcp({ sport: 40000, dport: 80, seq: 1000, flags: 'S', src: '10.0.0.1', dst: '10.0.0.2', payload: Buffer.from('data') }) });
  const [a, b] = fragmentIPv4(syn, [[0, 8], [8, 24]]);
  const [empty] = fragmentIPv4(syn, [[24, 24]]); // offset 24, no bytes, M=0
  // b, as fragmentIPv4 made it, is the last (M=0): give it M=1 so that the
  // empty fragment is the one that sets the size.
  const more = Buffer.from(b);
  more[6] |= 0x20;
  more.writeUInt16BE(0, 10);
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += more.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  more.writeUInt16BE(0xffff - sum, 10);
  const w = new PcapWriter();
  w.add(101, ether(a));
  w.add(102, ether(more));
  w.add(103, ether(empty));
  w.add(104, ether(a)); // a repeat: now the datagram completes
  w.add(105, ether(a)); // the start of a new one
  const events = await collect(w.write(scratch('frag-empty.pcap')), OPTS);
  t.is(one(t, events, 'new_connection').ts, 104);
  t.is(one(t, events, 'tcp_packet').len, 4);
});

test('IPv4: an incomplete datagram makes no connection', async (t) => {
  const w = new PcapWriter();
  w.add(101, ether(fragmentIPv4(SYN, [[0, 8], [8, 20]])[1]));
  const { events, stats } = await collectWithStats(w.write(scratch('frag-incomplete.pcap')), OPTS);
  t.deepEqual(events, []);
  t.is(stats.packetsReceived, 1);
});

test('an incompletely captured first fragment is analysed as it is; a later one is dropped', async (t) => {
  // A SYN carrying 20 bytes of data, cut in two; the first fragment (TCP
  // header + 20 bytes) is captured only up to 4 bytes of its data.
  const syn = ipv4({ src: '10.0.0.1', dst: '10.0.0.2', df: false, id: 5, payload: tcp({ sport: 40000, dport: 80, seq: 1000, flags: 'S', src: '10.0.0.1', dst: '10.0.0.2', payload: Buffer.alloc(28, 0x41) }) });
  const [a, b] = fragmentIPv4(syn, [[0, 40], [40, 48]]);
  const w = new PcapWriter();
  w.add(101, ether(a), { caplen: 14 + 20 + 24 });
  w.add(101.5, ether(b), { caplen: 14 + 20 + 4 });
  const { events, stats } = await collectWithStats(w.write(scratch('frag-trunc.pcap')), OPTS);
  t.is(stats.malformed.incompletely_captured_fragment, 2);
  const p = one(t, events, 'tcp_packet');
  // Zeek (IP.cc): offset 0 -> not reassembled, analysed with the fragment's
  // own lengths: TCP payload 20, captured 4; the checksum is skipped.
  t.deepEqual([p.flags, p.len, p.payload.length], ['S', 20, 4]);
  t.deepEqual(named(events, 'conn_weird').map((e) => e.name), ['SYN_with_data', 'truncated_tcp_payload']);
  t.is(one(t, events, 'connection_state_remove').conn.orig.num_bytes_ip, 60);
});

test('IPv6: a reassembled datagram has no fragment header, so its ID is 0 and tcp_rexmit stays silent', async (t) => {
  // Distinct fragment IDs per datagram, as senders use them. Zeek's
  // reassembled packet is built from the unfragmentable part only
  // (Frag.cc BuildReassembledPacket: IPv6_Hdr_Chain without the fragment
  // header), so IP_Hdr::ID() is 0 and every packet looks like a replay to
  // TCPStats, as for unfragmented IPv6.
  const split = (p, i) => fragmentIPv6(p, cuts(p.readUInt16BE(4), [16, 48]), 1000 + i);
  const f = exchange(V6, new FragmentingWriter(split));
  f.packet('c', { flags: 'PA', seq: 1001, payload: BODY }); // a retransmission
  const { events } = await run(f);
  t.is(named(events, 'tcp_rexmit').length, 0);
  // The atomic-fragment case, the same.
  const g = exchange(V6, new FragmentingWriter((p, i) => fragmentIPv6(p, [[0, p.readUInt16BE(4)]], 2000 + i)));
  g.packet('c', { flags: 'PA', seq: 1001, payload: BODY });
  t.is(named((await run(g)).events, 'tcp_rexmit').length, 0);
});

test('IPv4: the reassembled header is the first-seen fragment (TTL), whatever its offset', async (t) => {
  const [a, b] = fragmentIPv4(SYN, [[0, 8], [8, 20]]);
  const setTtl = (p, ttl) => {
    const q = Buffer.from(p);
    q[8] = ttl;
    q.writeUInt16BE(0, 10);
    let sum = 0;
    for (let i = 0; i < 20; i += 2) sum += q.readUInt16BE(i);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    q.writeUInt16BE(0xffff - sum, 10);
    return q;
  };
  const w = new PcapWriter();
  w.add(101, ether(setTtl(b, 10))); // seen first
  w.add(101, ether(setTtl(a, 20)));
  const events = await collect(w.write(scratch('frag-ttl.pcap')), OPTS);
  t.is(one(t, events, 'connection_SYN_packet').pkt.ttl, 10);
});
