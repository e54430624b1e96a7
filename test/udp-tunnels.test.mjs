// UDP tunnels: Zeek decapsulates them even in bare mode (init-bare.zeek
// loads base/packet-protocols, which registers Teredo on 3544/udp, VXLAN on
// 4789, Geneve on 6081, GTPv1 on 2152 and 2123, AYIYA on 5072, and Teredo
// and AYIYA for payload detection on any port). The TCP connection inside
// is analysed exactly as one seen directly. What is checked here follows
// Zeek's UDP analyzer and the tunnel analyzers (src/packet_analysis/
// protocol/{udp,teredo,vxlan,geneve,gtpv1,ayiya}).
import test from 'ava';
import { PcapWriter, TcpFlow, addrBytes, ether, ipv4, ipv6, udp } from './helpers/pcap.mjs';
import { comparable, exchange } from './helpers/traces.mjs';
import { collect, collectWithStats, named, scratch } from './helpers/run.mjs';

let n = 0;
const OPTS = { events: 'all', contentDeliverAllOrig: true, contentDeliverAllResp: true };
const V4 = { client: '10.0.0.1:40000', server: '10.0.0.2:80' };
const V6 = { client: '[2001:db8::1]:40000', server: '[2001:db8::2]:80' };
const TEREDO6 = { client: '[2001:0:4137:9e50:8000:f12a:b9c8:2815]:1286', server: '[2001:4860:0:2001::68]:80' };
// The outer hosts: A is the inner client's side, B the inner server's.
const A = '192.0.2.1';
const B = '198.51.100.2';

const run = async (f, options = OPTS) => comparable(await collect(f.write(scratch(`udp-${++n}.pcap`)), options));
const runWithStats = (f, options = OPTS) => collectWithStats(f.write(scratch(`udp-${++n}.pcap`)), options);

// Whether an inner IP packet comes from the inner client (the exchange's 'c').
function fromClient(pkt, ends) {
  const client = addrBytes(ends.client.replace(/^\[|\]?:\d+$/g, ''));
  return pkt[0] >> 4 === 4 ? pkt.subarray(12, 16).equals(client) : pkt.subarray(8, 24).equals(client);
}

// A link function putting each inner packet into UDP between A and B:
// A:aPort <-> B:bPort, the client's packets from A. The payload is
// header(pkt, fromA), inner(pkt) (the packet itself, or a frame around
// it), then trailer(pkt, fromA).
function udpLink(ends, { aPort = 40001, bPort, header, inner = (p) => p, trailer = none, checksum, outer6 = false }) {
  const a = outer6 ? '2001:db8:a::1' : A;
  const b = outer6 ? '2001:db8:b::2' : B;
  return (pkt) => {
    const fromA = fromClient(pkt, ends);
    const payload = Buffer.concat([header(pkt, fromA), inner(pkt), trailer(pkt, fromA)]);
    const [src, dst, sport, dport] = fromA ? [a, b, aPort, bPort] : [b, a, bPort, aPort];
    const seg = udp({ sport, dport, payload, src, dst, checksum: checksum?.(fromA) });
    return ether(outer6 ? ipv6({ src, dst, nextHeader: 17, payload: seg }) : ipv4({ src, dst, proto: 17, payload: seg }));
  };
}

const none = () => Buffer.alloc(0);
const vxlanHeader = (vni = 42, flags = 0x08) => () => Buffer.from([flags, 0, 0, 0, (vni >> 16) & 0xff, (vni >> 8) & 0xff, vni & 0xff, 0]);
const innerEther = (p) => ether(p);

const reference = await run(exchange());
const reference6 = await run(exchange({ ends: V6 }));
const referenceTeredo = await run(exchange({ ends: TEREDO6 }));

test('Teredo on 3544/udp: the IPv6 connection inside, with and without origin indication and authentication headers', async (t) => {
  t.deepEqual(await run(exchange({ ends: V6, link: udpLink(V6, { bPort: 3544, header: none }) })), reference6);
  // The relay's packets carry an origin indication; the client's an
  // authentication header (id 2 bytes, value 3 bytes, nonce, confirmation).
  const auth = Buffer.concat([Buffer.from([0, 1, 2, 3]), Buffer.from('idabc'), Buffer.alloc(8, 7), Buffer.from([0])]);
  const origin = Buffer.from([0, 0, 0x12, 0x34, 1, 2, 3, 4]);
  const header = (pkt, fromA) => (fromA ? auth : origin);
  t.deepEqual(await run(exchange({ ends: V6, link: udpLink(V6, { bPort: 3544, header }) })), reference6);
  // Both, in the only order Zeek accepts: authentication, then origin.
  const both = () => Buffer.concat([auth, origin]);
  t.deepEqual(await run(exchange({ ends: V6, link: udpLink(V6, { bPort: 3544, header: both }) })), reference6);
});

test('Teredo on other ports is found by its look: a Teredo address, or an origin indication', async (t) => {
  // Peer to peer, 3797 <-> 32900: only Zeek's Teredo detection applies.
  t.deepEqual(await run(exchange({ ends: TEREDO6, link: udpLink(TEREDO6, { aPort: 3797, bPort: 32900, header: none }) })), referenceTeredo);
  // Addresses outside 2001:0::/32 are not Teredo's...
  const { events } = await runWithStats(exchange({ ends: V6, link: udpLink(V6, { aPort: 3797, bPort: 32900, header: none }) }));
  t.is(events.length, 0);
  // ...unless an origin indication comes first.
  const origin = () => Buffer.from([0, 0, 0x12, 0x34, 1, 2, 3, 4]);
  t.deepEqual(await run(exchange({ ends: V6, link: udpLink(V6, { aPort: 3797, bPort: 32900, header: origin }) })), reference6);
});

test('Teredo wants the IPv6 packet to fill the datagram: trailing bytes are a violation that ends decapsulation of that UDP flow', async (t) => {
  let k = 0;
  // The third packet (the client's ACK) has two bytes too many.
  const link = udpLink(V6, { bPort: 3544, header: none, trailer: () => (++k === 3 ? Buffer.from([0, 0]) : Buffer.alloc(0)) });
  const { events, stats } = await runWithStats(exchange({ ends: V6, link }));
  t.deepEqual(named(events, 'tcp_packet').map((e) => e.flags), ['S', 'SA']);
  t.is(stats.malformed.tunnel_protocol_violation, 1);
});

test('VXLAN on 4789/udp: Ethernet inside, over one UDP flow or one per direction', async (t) => {
  t.deepEqual(await run(exchange({ link: udpLink(V4, { bPort: 4789, header: vxlanHeader(), inner: innerEther }) })), reference);
  // Each side sends from its own port to 4789: two outer flows, so every
  // change of direction is a tunnel change for the inner connection
  // (Zeek compares the outer connection, uid included). Past five
  // changes: tunnel_max_changes_per_connection_exceeded, and history X.
  const perDirection = (pkt) => {
    const fromA = fromClient(pkt, V4);
    const [src, dst, sport] = fromA ? [A, B, 50001] : [B, A, 50002];
    const seg = udp({ sport, dport: 4789, payload: Buffer.concat([vxlanHeader()(), ether(pkt)]), src, dst });
    return ether(ipv4({ src, dst, proto: 17, payload: seg }));
  };
  const events = await run(exchange({ link: perDirection }));
  t.is(named(events, 'tcp_packet').length, 8);
  // Directions c s c c s c s c: 6 changes, the 6th (packet 8) beyond five.
  t.deepEqual(named(events, 'conn_weird').map((e) => e.name), ['tunnel_max_changes_per_connection_exceeded']);
  t.is(named(events, 'connection_state_remove')[0].conn.history, 'ShADdFfX');
});

test('VXLAN without its I flag is a violation: that UDP flow is not decapsulated again; another flow is', async (t) => {
  let k = 0;
  const flags = () => (++k === 3 ? 0x00 : 0x08);
  const sticky = await runWithStats(exchange({ link: udpLink(V4, { bPort: 4789, header: () => vxlanHeader(42, flags())(), inner: innerEther }) }));
  t.deepEqual(named(sticky.events, 'tcp_packet').map((e) => e.flags), ['S', 'SA']);
  t.is(sticky.stats.malformed.tunnel_protocol_violation, 1);
  // From the fourth packet on, the client uses another source port: a new
  // outer flow, decapsulated.
  k = 0;
  const first = udpLink(V4, { bPort: 4789, header: () => vxlanHeader(42, flags())(), inner: innerEther });
  const second = udpLink(V4, { aPort: 40002, bPort: 4789, header: vxlanHeader(), inner: innerEther });
  let m = 0;
  const moved = await runWithStats(exchange({ link: (p) => (++m <= 3 ? first(p) : second(p)) }));
  t.deepEqual(named(moved.events, 'tcp_packet').map((e) => e.flags), ['S', 'SA', 'AP', 'AP', 'FA', 'FA', 'A']);
});

test('Geneve on 6081/udp: Ethernet (0x6558) or IP (0x0800, 0x86dd) inside, after its options', async (t) => {
  const geneve = (proto, optionWords = 0) => () => {
    const h = Buffer.alloc(8 + optionWords * 4, 0xab);
    h[0] = optionWords;
    h[1] = 0;
    h.writeUInt16BE(proto, 2);
    h.writeUInt32BE(42 << 8, 4);
    return h;
  };
  t.deepEqual(await run(exchange({ link: udpLink(V4, { bPort: 6081, header: geneve(0x6558, 2), inner: innerEther }) })), reference);
  t.deepEqual(await run(exchange({ link: udpLink(V4, { bPort: 6081, header: geneve(0x0800) }) })), reference);
  t.deepEqual(await run(exchange({ ends: V6, link: udpLink(V6, { bPort: 6081, header: geneve(0x86dd, 1) }) })), reference6);
  // Another Geneve version is dropped without a violation.
  const v1 = () => Buffer.from([0x40, 0, 0x65, 0x58, 0, 0, 42, 0]);
  const { events, stats } = await runWithStats(exchange({ link: udpLink(V4, { bPort: 6081, header: v1, inner: innerEther }) }));
  t.is(events.length, 0);
  t.is(stats.malformed.tunnel_protocol_violation ?? 0, 0);
});

test('GTPv1 on 2152/udp: G-PDUs with optional fields and extension headers; a bad one does not stop the tunnel', async (t) => {
  const gtp = (extra) => (pkt) => {
    const opt = extra ? Buffer.concat([Buffer.from([0, 1, 0, 0x85]), Buffer.from([1, 0xaa, 0xbb, 0])]) : Buffer.alloc(0);
    const h = Buffer.alloc(8);
    h[0] = extra ? 0x36 : 0x30; // version 1, PT, (E and S)
    h[1] = 255;
    h.writeUInt16BE(pkt.length + opt.length, 2);
    h.writeUInt32BE(0x1234, 4);
    return Buffer.concat([h, opt]);
  };
  t.deepEqual(await run(exchange({ link: udpLink(V4, { bPort: 2152, header: gtp(false) }) })), reference);
  t.deepEqual(await run(exchange({ ends: V6, link: udpLink(V6, { bPort: 2152, header: gtp(true) }) })), reference6);
  // Trailing bytes after the third packet's inner IP: that packet is lost
  // (a violation), the rest still decapsulated (GTPv1 has no stop).
  let k = 0;
  const link = udpLink(V4, { bPort: 2152, header: gtp(false), trailer: () => (++k === 3 ? Buffer.from([0, 0]) : Buffer.alloc(0)) });
  const { events, stats } = await runWithStats(exchange({ link }));
  t.is(named(events, 'tcp_packet').length, 7);
  t.is(stats.malformed.tunnel_protocol_violation, 1);
});

test('AYIYA on 5072/udp (and found by its look elsewhere): IPv4 or IPv6 inside', async (t) => {
  // Identity of 2^1 bytes, a 4-byte signature, opcode 1 (forward).
  const ayiya = (next) => () => Buffer.concat([Buffer.from([0x11, 0x12, 0x11, next, 0, 0, 0, 0]), Buffer.alloc(2 + 4, 1)]);
  t.deepEqual(await run(exchange({ link: udpLink(V4, { bPort: 5072, header: ayiya(4) }) })), reference);
  // On another port, bytes 1-2 "52 11" make Zeek try AYIYA: identity of
  // 2^0 bytes, signature of 5 words (0x52 >> 4), opcode 1.
  const detected = () => Buffer.concat([Buffer.from([0x00, 0x52, 0x11, 41, 0, 0, 0, 0]), Buffer.alloc(1 + 20, 1)]);
  t.deepEqual(await run(exchange({ ends: V6, link: udpLink(V6, { aPort: 7000, bPort: 7001, header: detected }) })), reference6);
});

test('GRE in UDP on 4754/udp: the IP packet inside GRE', async (t) => {
  const gre = () => Buffer.from([0, 0, 0x08, 0x00]);
  t.deepEqual(await run(exchange({ link: udpLink(V4, { bPort: 4754, header: gre }) })), reference);
});

test('the UDP checksum gates decapsulation: a bad one drops the packet, unless checksums are ignored', async (t) => {
  let k = 0;
  const bad = (fromA) => (++k === 2 ? 0x1234 : undefined);
  const f = () => exchange({ ends: V6, link: udpLink(V6, { bPort: 3544, header: none, checksum: bad }) });
  k = 0;
  const { events, stats } = await runWithStats(f());
  t.is(stats.malformed.bad_UDP_checksum, 1);
  t.is(named(events, 'tcp_packet').length, 7);
  k = 0;
  t.deepEqual(await run(f(), { ...OPTS, ignoreChecksums: true }), reference6);
});

test('a zero UDP checksum is "none" over IPv4, but bad over IPv6 (except VXLAN to its port)', async (t) => {
  const zero = () => 0;
  t.deepEqual(await run(exchange({ ends: V6, link: udpLink(V6, { bPort: 3544, header: none, checksum: zero }) })), reference6);
  const { events, stats } = await runWithStats(exchange({ ends: V6, link: udpLink(V6, { bPort: 3544, header: none, checksum: zero, outer6: true }) }));
  t.is(events.length, 0);
  t.is(stats.malformed.bad_UDP_checksum, 8);
  // The exception is for datagrams *to* 4789: over one flow, the replies
  // (to the client's port) are still dropped.
  const vx = await runWithStats(exchange({ link: udpLink(V4, { bPort: 4789, header: vxlanHeader(), inner: innerEther, checksum: zero, outer6: true }) }));
  t.deepEqual(named(vx.events, 'tcp_packet').map((e) => e.is_orig), [true, true, true, true, true]);
  t.is(vx.stats.malformed.bad_UDP_checksum, 3);
});

test('a UDP flow idle for udp_inactivity_timeout ends: a violation is forgotten with it', async (t) => {
  // The violation at packet 3; packet 4 comes a minute later: a new flow.
  const f = new TcpFlow({ ...V6, t0: 100, step: 0.25, writer: new PcapWriter() });
  let k = 0;
  f.link = udpLink(V6, { bPort: 3544, header: none, trailer: () => (++k === 3 ? Buffer.from([0, 0]) : Buffer.alloc(0)) });
  f.syn();
  f.synAck();
  f.ack('c');
  f.t += 61;
  f.data('c', 'late');
  const { events } = await runWithStats(f);
  t.deepEqual(named(events, 'tcp_packet').map((e) => e.flags), ['S', 'SA', 'AP']);
});
