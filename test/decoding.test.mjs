// Decoding: the same TCP exchange over every supported link layer and IP
// variant gives the same events (Zeek's packet analysis: Ethernet, VLAN,
// QinQ, MPLS, PPPoE, SLL/SLL2, NULL/LOOP, raw IP; IPv6 extension headers;
// IPv4 options). Timestamps of nanosecond pcaps are read at microsecond
// precision, as Zeek's libpcap does. Malformed headers are counted by reason
// (Zeek's weird names where Zeek has one) and never crash.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import {
  TcpFlow, PcapWriter, LINKTYPE, ether, sll, sll2, nullLink, loopLink, fddi, ppp, nflog, wifi, wifiAmsdu, ipv4, ipv6, tcp, addrBytes,
} from './helpers/pcap.mjs';
import { comparable, exchange } from './helpers/traces.mjs';
import { collect, collectWithStats, named, one, scratch } from './helpers/run.mjs';

let n = 0;
const OPTS = { events: 'all', contentDeliverAllOrig: true, contentDeliverAllResp: true };
const V4 = { client: '10.0.0.1:40000', server: '10.0.0.2:80' };
const V6 = { client: '[2001:db8::1]:40000', server: '[2001:db8::2]:80' };

const run = async (f, options = OPTS) => comparable(await collect(f.write(scratch(`dec-${++n}.pcap`)), options));

const ipOnly = (p) => p;
const variants = [
  ['802.1Q VLAN', { link: (p) => ether(p, { vlans: [100] }) }],
  ['QinQ (0x88a8 outer)', { link: (p) => ether(p, { vlans: [100, 200], qinq: true }) }],
  ['QinQ (two 0x8100 tags)', { link: (p) => ether(p, { vlans: [7, 8] }) }],
  ['MPLS label stack', { link: (p) => ether(p, { mpls: [16, 17, 18] }) }],
  ['PPPoE session', { link: (p) => ether(p, { pppoe: true }) }],
  ['VLAN + PPPoE', { link: (p) => ether(p, { vlans: [5], pppoe: true }) }],
  ['Linux SLL', { linktype: LINKTYPE.LINUX_SLL, link: sll }],
  ['Linux SLL2', { linktype: LINKTYPE.LINUX_SLL2, link: sll2 }],
  ['BSD NULL', { linktype: LINKTYPE.NULL, link: nullLink }],
  ['raw IP (101)', { linktype: LINKTYPE.RAW, link: ipOnly }],
  ['raw IPv4 (228)', { linktype: LINKTYPE.IPV4, link: ipOnly }],
  // Zeek's root analyzer: FDDI, PPP and PPP serial, NFLOG (scripts/base/packet-protocols).
  ['FDDI with LLC/SNAP', { linktype: LINKTYPE.FDDI, link: fddi }],
  ['PPP with HDLC-like framing', { linktype: LINKTYPE.PPP, link: (p) => ppp(p) }],
  ['PPP without framing', { linktype: LINKTYPE.PPP, link: (p) => ppp(p, { hdlc: false }) }],
  ['PPP serial', { linktype: LINKTYPE.PPP_SERIAL, link: (p) => ppp(p) }],
  ['NFLOG', { linktype: LINKTYPE.NFLOG, link: nflog }],
  ['802.11 data frames', { linktype: LINKTYPE.IEEE802_11, link: (p) => wifi(p) }],
  ['802.11 QoS data frames', { linktype: LINKTYPE.IEEE802_11, link: (p) => wifi(p, { qos: true }) }],
  ['802.11 behind radiotap', { linktype: LINKTYPE.IEEE802_11_RADIO, link: (p) => wifi(p, { qos: true, radiotap: true }) }],
];

// An A-MSDU carries several packets in one frame; Zeek's IEEE802_11
// analyzer hands each on.
test('802.11 A-MSDU: every packet of an aggregate frame is analysed', async (t) => {
  const w = new PcapWriter({ linktype: LINKTYPE.IEEE802_11 });
  const inner = exchange({ linktype: LINKTYPE.RAW, link: (p) => p });
  // The exchange's eight packets, two per frame.
  const packets = inner.writer.records.filter((_, i) => i % 2 === 1);
  for (let i = 0; i < packets.length; i += 2) w.add(100 + i, wifiAmsdu([packets[i], packets[i + 1]]));
  const events = await run({ write: (path) => w.write(path) });
  t.is(events.filter((e) => e.event === 'tcp_packet').length, 8);
  t.is(events.find((e) => e.event === 'connection_state_remove').conn.history, 'ShADdFf');
});

let reference;
test.before(async () => {
  reference = await run(exchange());
});

test('the reference exchange over Ethernet has the expected shape', (t) => {
  const rm = reference.find((e) => e.event === 'connection_state_remove');
  t.is(rm.conn.history, 'ShADdFf');
  t.deepEqual(rm.conn.orig, { size: 18, state: 5, num_pkts: 5, num_bytes_ip: 44 + 40 + 58 + 40 + 40 });
  t.is(reference.filter((e) => e.event === 'tcp_contents').length, 2);
});

for (const [name, v] of variants) {
  test(`same events over ${name}`, async (t) => {
    t.deepEqual(await run(exchange(v)), reference);
  });
}

test('same events over IPv6 on Ethernet, raw IP (101) and LINKTYPE_IPV6 (229), SLL and NULL', async (t) => {
  const ref6 = await run(exchange({ ends: V6 }));
  t.is(ref6.find((e) => e.event === 'connection_state_remove').conn.history, 'ShADdFf');
  for (const v of [
    { linktype: LINKTYPE.RAW, link: ipOnly },
    { linktype: LINKTYPE.IPV6, link: ipOnly },
    { linktype: LINKTYPE.LINUX_SLL, link: sll },
    { linktype: LINKTYPE.NULL, link: nullLink },
    { link: (p) => ether(p, { vlans: [3] }) },
  ]) t.deepEqual(await run(exchange({ ends: V6, ...v })), ref6);
});

// The same events, except that IP lengths grow by `extra` per packet.
function sameButLonger(t, actual, expected, extra) {
  t.is(actual.length, expected.length);
  actual.forEach((a, i) => {
    const e = expected[i];
    for (const side of ['orig', 'resp']) {
      t.is(a.conn[side].num_bytes_ip, e.conn[side].num_bytes_ip + extra * e.conn[side].num_pkts);
      a.conn[side].num_bytes_ip = e.conn[side].num_bytes_ip;
    }
    if (a.event === 'connection_SYN_packet') {
      t.is(a.pkt.size, e.pkt.size + extra);
      a.pkt.size = e.pkt.size;
    }
    t.deepEqual(a, e);
  });
}

test('IPv6 with hop-by-hop, destination-options and routing headers gives the same events', async (t) => {
  const ref6 = await run(exchange({ ends: V6 }));
  const routing = Buffer.from([0, 0, 0, 0, 0, 0]); // type 0, segments left 0
  const ext = [{ type: 0 }, { type: 60 }, { type: 43, data: routing }];
  const withExt = await run(exchange({ ends: V6, ipOptions: { ext } }));
  sameButLonger(t, withExt, ref6, 24);
});

test('IPv4 options give the same events', async (t) => {
  // Record-route-like padding: NOP NOP NOP EOL.
  const withOpts = await run(exchange({ ipOptions: { options: Buffer.from([1, 1, 1, 0]) } }));
  sameButLonger(t, withOpts, reference, 4);
});

test('nanosecond pcap timestamps are truncated to microseconds', async (t) => {
  const f = new TcpFlow({ writer: new PcapWriter({ nanoseconds: true }), t0: 100, step: 1 });
  f.syn({ at: 101.000000999 });
  f.synAck({ at: 102.500000999 });
  const events = await collect(f.write(scratch('ns.pcap')), OPTS);
  t.deepEqual(named(events, 'tcp_packet').map((e) => e.ts), [101, 102.5]);
  t.is(one(t, events, 'connection_established').conn.duration, 1.5);
});

const editcap = ['/usr/bin/editcap', '/usr/local/bin/editcap'].find((p) => existsSync(p));
(editcap ? test : test.skip)('pcapng (written by editcap) gives the same events as pcap', async (t) => {
  const pcap = exchange().write(scratch('for-ng.pcap'));
  const ng = scratch('ng.pcapng');
  execFileSync(editcap, ['-F', 'pcapng', pcap, ng]);
  t.deepEqual(comparable(await collect(ng, OPTS)), reference);
});

// --- malformed input ------------------------------------------------------------

const SEG = (o = {}) => tcp({ sport: 40000, dport: 80, seq: 1000, flags: 'S', src: '10.0.0.1', dst: '10.0.0.2', ...o });
const IP = (o = {}) => ipv4({ src: '10.0.0.1', dst: '10.0.0.2', payload: SEG(), ...o });

test('malformed and truncated headers are counted by reason and make no connection', async (t) => {
  const w = new PcapWriter();
  const good = ether(IP());
  const add = (frame, o) => w.add(101, frame, o);
  add(good.subarray(0, 10)); // link_truncated
  add(ether(IP()).subarray(0, 14 + 12)); // truncated_IP: fewer than 20 bytes
  const v5 = Buffer.from(IP());
  v5[0] = 0x55;
  add(ether(v5)); // unknown_ip_version
  add(ether(IP({ totalLength: 0 }))); // ip_hdr_len_zero
  add(ether(IP({ totalLength: 200 }))); // truncated_IP_len (wire length below the total length)
  add(ether(IP({ ihl: 15 }))); // invalid_IP_header_size: 60 > total length 40
  add(ether(IP({ ihl: 3 }))); // IPv4_min_header_size
  add(ether(Buffer.concat([IP({ totalLength: 30, payload: Buffer.alloc(10) })]))); // TCP header under 20 bytes: truncated_header
  add(good, { caplen: 14 + 20 + 10 }); // TCP header not captured: internally_truncated_header
  add(ether(ipv6({ src: '2001:db8::1', dst: '2001:db8::2', payload: Buffer.alloc(0), nextHeader: 59 }))); // ipv6_no_next
  add(ether(ipv6({ src: '2001:db8::1', dst: '2001:db8::2', payload: SEG({ src: '2001:db8::1', dst: '2001:db8::2' }) })).subarray(0, 14 + 30)); // truncated_IP
  const { events, stats } = await collectWithStats(w.write(scratch('malformed.pcap')), OPTS);
  t.deepEqual(events, []);
  const m = Object.fromEntries(Object.entries(stats.malformed).filter(([, v]) => v));
  t.deepEqual(m, {
    link_truncated: 1,
    truncated_IP: 2,
    unknown_ip_version: 1,
    ip_hdr_len_zero: 1,
    truncated_IP_len: 1,
    invalid_IP_header_size: 1,
    IPv4_min_header_size: 1,
    truncated_header: 1,
    internally_truncated_header: 1,
    ipv6_no_next: 1,
  });
});

test('ip_hdr_len_zero: with ignoreChecksums the captured length stands in', async (t) => {
  const w = new PcapWriter();
  const seg = SEG({ payload: 'abc', flags: 'S' });
  w.add(101, ether(IP({ totalLength: 0, payload: seg })));
  const { events, stats } = await collectWithStats(w.write(scratch('len0.pcap')), { ...OPTS, ignoreChecksums: true });
  t.is(stats.malformed.ip_hdr_len_zero, 1);
  const p = one(t, events, 'tcp_packet');
  t.is(p.len, 3);
  t.is(p.payload.toString(), 'abc');
});

test('a TCP data offset below 5 creates the connection but the packet goes no further', async (t) => {
  const w = new PcapWriter();
  w.add(101, ether(IP({ payload: SEG({ dataOffset: 4 }) })));
  const { events, stats } = await collectWithStats(w.write(scratch('doff.pcap')), OPTS);
  t.is(stats.malformed.bad_TCP_header_len, 1);
  t.deepEqual(events.map((e) => e.event), ['new_connection_contents', 'new_connection', 'conn_weird', 'connection_pending', 'connection_state_remove']);
  t.is(named(events, 'conn_weird')[0].name, 'bad_TCP_header_len');
  const rm = one(t, events, 'connection_state_remove');
  t.deepEqual([rm.conn.history, rm.conn.orig.state, rm.conn.resp.state, rm.conn.orig.num_pkts], ['', 0, 0, 0]);
});

test('a TCP header longer than the IP payload creates the connection, then truncated_header', async (t) => {
  const w = new PcapWriter();
  // Data offset 8 (32 bytes) in a 20-byte segment.
  w.add(101, ether(IP({ payload: SEG({ dataOffset: 8 }) })));
  const { events, stats } = await collectWithStats(w.write(scratch('doff2.pcap')), OPTS);
  t.is(stats.malformed.truncated_header, 1);
  t.deepEqual(named(events, 'conn_weird').map((e) => e.name), ['truncated_header']);
  t.is(named(events, 'new_connection').length, 1);
  t.is(named(events, 'tcp_packet').length, 0);
});

test('garbage frames of every length never crash the sensor', async (t) => {
  const w = new PcapWriter();
  const base = ether(IP({ payload: SEG({ payload: 'xyzxyz', options: Buffer.from([2, 4, 5, 180]) }) }));
  for (let len = 0; len <= base.length; len++) w.add(101 + len / 1000, base.subarray(0, len));
  let x = 7;
  for (let i = 0; i < 200; i++) {
    const b = Buffer.from(base);
    for (let k = 0; k < 4; k++) b[(x = (x * 1103515245 + 12345) % 2147483648) % b.length] = x & 0xff;
    w.add(102 + i / 1000, b);
  }
  const { stats } = await collectWithStats(w.write(scratch('garbage.pcap')), OPTS);
  t.is(stats.packetsReceived, base.length + 1 + 200);
});

// --- link layers where Zeek and we disagree -----------------------------------------
//
// Zeek's packet analysis (scripts/base/packet-protocols/*/main.zeek and the
// analyzers under src/packet_analysis/protocol/) decodes some encapsulations
// we drop, and drops some link types we decode.

const MACS = Buffer.from([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]);
const be16 = (v) => Buffer.from([v >> 8, v & 0xff]);
const snapIp = (p) => Buffer.concat([Buffer.from([0xaa, 0xaa, 0x03, 0, 0, 0]), be16(0x0800), p]);
const ethTyped = (type, body) => Buffer.concat([MACS, be16(type), body]);

// 802.3 frames with an LLC/SNAP header carrying IPv4 (OUI 0, type 0x0800)
// are analysed by Zeek: Ethernet.cc AnalyzePacket, `protocol <= 1500` with
// data[0..1] == 0xAA 0xAA -> SNAP analyzer (SNAP.cc) -> forwarding key
// (oui << 16 | 0x0800), registered to ANALYZER_IP in
// scripts/base/packet-protocols/snap/main.zeek. The same from a VLAN (VLAN.cc).
test('802.3 + LLC/SNAP (plain and inside a VLAN) carries IP as Zeek decodes it', async (t) => {
  t.deepEqual(await run(exchange({ link: (p) => ethTyped(p.length + 8, snapIp(p)) })), reference);
  t.deepEqual(await run(exchange({ link: (p) => ethTyped(0x8100, Buffer.concat([be16(5), be16(p.length + 8), snapIp(p)])) })), reference);
});

// VN-Tag (0x8926, VNTag.cc: 6 bytes, then an EtherType that vntag/main.zeek
// forwards to VLAN) and 802.1ah PBB (0x88E7, PBB.cc: a 4-byte I-TAG, then a
// whole inner Ethernet frame) are registered from Ethernet (ethernet/main.zeek).
test('VN-Tag and PBB (802.1ah) encapsulations are decoded as Zeek decodes them', async (t) => {
  const vntag = (p) => ethTyped(0x8926, Buffer.concat([Buffer.from([0, 0, 0, 0]), be16(0x8100), be16(9), be16(0x0800), p]));
  t.deepEqual(await run(exchange({ link: vntag })), reference);
  const pbb = (p) => ethTyped(0x88e7, Buffer.concat([Buffer.from([0, 0, 0, 1]), MACS, be16(0x0800), p]));
  t.deepEqual(await run(exchange({ link: pbb })), reference);
});

// Zeek's NULL analyzer (Null.cc) reads the family little-endian and
// null/main.zeek registers only 2, 24, 28 and 30 (not Linux's AF_INET6 10,
// nor a big-endian 2): such frames make no connection there, nor here.
test('DLT_NULL frames with a family Zeek does not register make no connections', async (t) => {
  const none = async (v) => (await run(exchange(v))).length;
  t.is(await none({ linktype: LINKTYPE.NULL, link: (p) => Buffer.concat([Buffer.from([10, 0, 0, 0]), p]), ends: V6 }), 0);
  t.is(await none({ linktype: LINKTYPE.NULL, link: (p) => Buffer.concat([Buffer.from([0, 0, 0, 2]), p]) }), 0);
});

// Deliberately more than Zeek: it has no decoder for LINKTYPE_LOOP (108)
// and registers MPLS only for 0x8847; we decode OpenBSD loopback captures
// and multicast MPLS (0x8848) too, giving the same events as Ethernet.
test('LINKTYPE_LOOP and MPLS multicast frames are decoded (an extension over Zeek)', async (t) => {
  t.deepEqual(await run(exchange({ linktype: LINKTYPE.LOOP, link: loopLink })), reference);
  t.deepEqual(await run(exchange({ link: (p) => ethTyped(0x8848, Buffer.concat([Buffer.from([0, 1, 0x11, 64]), p])) })), reference);
});

// --- IPv6 addresses that are not in the fixed header ---------------------------------
//
// Zeek keys a connection (IPBasedConnKey via TCPAnalyzer::InitConnKey:
// ip_hdr->SrcAddr(), ip_hdr->DstAddr()) and checks TCP checksums (the
// endpoints' addresses are the connection's) with IPv6_Hdr_Chain::SrcAddr /
// DstAddr (src/IP.cc): the final destination of a type 0 routing header with
// segments left (even length) or of a type 2 one (length 2), and the Mobile
// IPv6 Home Address destination option (ProcessDstOpts, type 201) as source.

const CLIENT6 = addrBytes('2001:db8::1');
// The client's packets go via a router (outer destination 2001:db8::99)
// with a routing header naming the server; checksums are computed, as the
// sender must, with the final destination.
const viaRouting = (type) => (p) => {
  if (!p.subarray(8, 24).equals(CLIENT6)) return ether(p);
  const h = Buffer.from(p.subarray(0, 40));
  const rh = Buffer.concat([Buffer.from([p[6], 2, type, 1, 0, 0, 0, 0]), p.subarray(24, 40)]);
  h[6] = 43;
  h.writeUInt16BE(p.readUInt16BE(4) + 24, 4);
  addrBytes('2001:db8::99').copy(h, 24);
  return ether(Buffer.concat([h, rh, p.subarray(40)]));
};

// Keyed and checksummed with the fixed header's destination, the client's
// packets would form a second connection (to 2001:db8::99) and all fail the
// checksum (history C).
test('IPv6 routing header (type 0 and 2) with segments left: the final destination is the responder', async (t) => {
  const ref6 = await run(exchange({ ends: V6 }));
  for (const type of [0, 2]) {
    const events = await run(exchange({ ends: V6, link: viaRouting(type) }));
    t.deepEqual(events.filter((e) => e.event === 'new_connection').map((e) => e.id.resp_h), ['2001:db8::2']);
    t.deepEqual(events.filter((e) => e.event === 'conn_weird'), []);
    const rm = events.find((e) => e.event === 'connection_state_remove');
    t.is(rm.conn.history, ref6.find((e) => e.event === 'connection_state_remove').conn.history);
  }
});

// The same for the source: a Home Address option makes it the source.
test('IPv6 Home Address destination option: the home address is the originator', async (t) => {
  const ref6 = await run(exchange({ ends: V6 }));
  const viaCareOf = (p) => {
    if (!p.subarray(8, 24).equals(CLIENT6)) return ether(p);
    const h = Buffer.from(p.subarray(0, 40));
    // Destination options: Home Address (201, 16 bytes), then PadN (1, 2).
    const dst = Buffer.concat([Buffer.from([p[6], 2, 201, 16]), CLIENT6, Buffer.from([1, 2, 0, 0])]);
    h[6] = 60;
    h.writeUInt16BE(p.readUInt16BE(4) + 24, 4);
    addrBytes('2001:db8::77').copy(h, 8); // the care-of address
    return ether(Buffer.concat([h, dst, p.subarray(40)]));
  };
  const events = await run(exchange({ ends: V6, link: viaCareOf }));
  t.deepEqual(events.filter((e) => e.event === 'new_connection').map((e) => e.id.orig_h), ['2001:db8::1']);
  t.deepEqual(events.filter((e) => e.event === 'conn_weird'), []);
  t.is(events.find((e) => e.event === 'connection_state_remove').conn.history,
    ref6.find((e) => e.event === 'connection_state_remove').conn.history);
});

// --- tunnels --------------------------------------------------------------------------
//
// Zeek decapsulates tunnels even in bare mode (init-bare.zeek loads
// base/packet-protocols; ip/main.zeek registers IPPROTO_IPIP (4) and
// IPPROTO_IPV6 (41) to ANALYZER_IPTUNNEL and 47 to ANALYZER_GRE;
// Tunnel::max_depth 4) and analyses the inner TCP connection exactly as an
// unencapsulated one.
test('TCP inside IP-in-IP, 6in4 and GRE tunnels gives the inner connection events', async (t) => {
  const outer = (proto, body) => ether(ipv4({ src: '192.0.2.1', dst: '192.0.2.2', proto, payload: body }));
  t.deepEqual(await run(exchange({ link: (p) => outer(4, p) })), reference);
  const ref6 = await run(exchange({ ends: V6 }));
  t.deepEqual(await run(exchange({ ends: V6, link: (p) => outer(41, p) })), ref6);
  const gre = (p) => outer(47, Buffer.concat([Buffer.from([0, 0, 0x08, 0x00]), p]));
  t.deepEqual(await run(exchange({ link: gre })), reference);
});

// Zeek's Connection::CheckEncapsulation: each packet whose tunnels differ
// from the connection's last ones is a change (tunnel_changed); past
// Tunnel::max_changes_per_connection (5) each further change is the weird
// tunnel_max_changes_per_connection_exceeded and the history gets one 'X'.
test('a connection whose packets alternate between a GRE tunnel and the direct path gets X after 5 changes', async (t) => {
  let k = 0;
  const gre = (p) => ether(ipv4({ src: '192.0.2.1', dst: '192.0.2.2', proto: 47, payload: Buffer.concat([Buffer.from([0, 0, 0x08, 0x00]), p]) }));
  // Packets 1..8 of the exchange: direct, GRE, direct, ... = 7 changes.
  const alternate = (p) => (k++ % 2 === 0 ? ether(p) : gre(p));
  const events = await run(exchange({ link: alternate }));
  const weirds = events.filter((e) => e.event === 'conn_weird' && e.name === 'tunnel_max_changes_per_connection_exceeded');
  t.is(weirds.length, 2);
  // The 6th change is packet 7 (the server's FIN): X comes before its f.
  t.is(events.find((e) => e.event === 'connection_state_remove').conn.history, 'ShADdFXf');
  // Every packet still counts for the one connection.
  t.is(events.filter((e) => e.event === 'tcp_packet').length, 8);
});

// Zeek's IPTunnel analyzer parses the inner packet of IP-in-IP first: it
// must be of the version the protocol number says and fill the outer
// payload exactly, or the packet is dropped (with the weirds
// invalid_inner_IP_version, truncated_inner_IP, inner_IP_payload_length_mismatch).
test('IP-in-IP: an inner packet of the wrong version or length is dropped', async (t) => {
  const outer = (proto, body) => ether(ipv4({ src: '192.0.2.1', dst: '192.0.2.2', proto, payload: body }));
  let k = 0;
  const bad = (p) => {
    k++;
    if (k === 4) return outer(4, Buffer.concat([p, Buffer.from([0, 0])])); // two bytes too many
    if (k === 5) return outer(41, p); // an IPv4 packet announced as IPv6
    return outer(4, p);
  };
  const { events, stats } = await collectWithStats(exchange({ link: bad }).write(scratch(`dec-${++n}.pcap`)), OPTS);
  t.deepEqual(named(events, 'tcp_packet').map((e) => e.flags), ['S', 'SA', 'A', 'FA', 'FA', 'A']);
  t.is(stats.malformed.inner_IP_payload_length_mismatch, 1);
  t.is(stats.malformed.invalid_inner_IP_version, 1);
});

test('tunnels nest up to Zeek\'s Tunnel::max_depth (4)', async (t) => {
  const wrap = (depth) => (p) => {
    let inner = p;
    for (let i = 0; i < depth; i++) inner = ipv4({ src: `192.0.2.${2 * i + 1}`, dst: `192.0.2.${2 * i + 2}`, proto: 4, payload: inner });
    return ether(inner);
  };
  t.deepEqual(await run(exchange({ link: wrap(4) })), reference);
  const { events, stats } = await collectWithStats(exchange({ link: wrap(5) }).write(scratch(`dec-${++n}.pcap`)), OPTS);
  t.is(events.length, 0);
  t.is(stats.malformed.exceeded_tunnel_max_depth, 8);
});
