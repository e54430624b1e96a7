#!/usr/bin/env node
// Writes the fuzzers' seed corpora (not committed; regenerated at will):
//
//   OUT/capture-file/  capture files: traces crafted here with the test
//                      helpers (every link layer, tunnels, fragments, TCP
//                      corner cases; pcap, swapped, nanosecond and pcapng
//                      forms), samples/sample.pcap, and the conformance
//                      traces of ../shared when present (cut to 64 KiB)
//   OUT/packets/       the same traces split into fuzz-packets inputs by
//                      the seed tool (native/fuzz/packet_seeds.cc)
//   OUT/render/        those inputs as fuzz-render inputs (no flips)
//
//   node scripts/fuzz-seeds.mjs [--out build-fuzz/seeds] [--tool build-fuzz/fuzz-packet-seeds]
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  LINKTYPE, PcapWriter, TcpFlow, FragmentingWriter, ether, sll, sll2, nullLink, loopLink, fddi, ppp, nflog, wifi,
  wifiAmsdu, ipv4, ipv6, udp, tcpOptions, fragmentIPv4, fragmentIPv6,
} from '../test/helpers/pcap.mjs';
import { exchange, manyConnections, attemptTrace } from '../test/helpers/traces.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const out = opt('--out', join(root, 'build-fuzz', 'seeds'));
const tool = opt('--tool', join(root, 'build-fuzz', 'fuzz-packet-seeds'));
const conformance = join(root, '..', 'shared', 'conformance', 'traces');
const MAX_CAPTURE_SEED = 64 * 1024;

const captureDir = join(out, 'capture-file');
const packetDir = join(out, 'packets');
rmSync(out, { recursive: true, force: true });
mkdirSync(captureDir, { recursive: true });
mkdirSync(packetDir, { recursive: true });

const crafted = [];
const save = (name, writerOrBuffer) => {
  const path = join(captureDir, `crafted-${name}.pcap`);
  writeFileSync(path, Buffer.isBuffer(writerOrBuffer) ? writerOrBuffer : writerOrBuffer.toBuffer());
  crafted.push(path);
};

// --- the exchange over every link layer -----------------------------------------
const V4 = { client: '10.0.0.1:40000', server: '10.0.0.2:80' };
const V6 = { client: '[2001:db8::1]:40000', server: '[2001:db8::2]:80' };
const raw = (p) => p;
const links = {
  ether: {},
  vlan: { link: (p) => ether(p, { vlans: [100] }) },
  qinq: { link: (p) => ether(p, { vlans: [100, 200], qinq: true }) },
  mpls: { link: (p) => ether(p, { mpls: [16, 17] }) },
  pppoe: { link: (p) => ether(p, { vlans: [5], pppoe: true }) },
  sll: { linktype: LINKTYPE.LINUX_SLL, link: sll },
  sll2: { linktype: LINKTYPE.LINUX_SLL2, link: sll2 },
  null: { linktype: LINKTYPE.NULL, link: nullLink },
  loop: { linktype: LINKTYPE.LOOP, link: loopLink },
  raw: { linktype: LINKTYPE.RAW, link: raw },
  ipv4: { linktype: LINKTYPE.IPV4, link: raw },
  fddi: { linktype: LINKTYPE.FDDI, link: fddi },
  ppp: { linktype: LINKTYPE.PPP, link: (p) => ppp(p) },
  'ppp-bare': { linktype: LINKTYPE.PPP, link: (p) => ppp(p, { hdlc: false }) },
  'ppp-serial': { linktype: LINKTYPE.PPP_SERIAL, link: (p) => ppp(p) },
  nflog: { linktype: LINKTYPE.NFLOG, link: nflog },
  wifi: { linktype: LINKTYPE.IEEE802_11, link: (p) => wifi(p) },
  'wifi-qos': { linktype: LINKTYPE.IEEE802_11, link: (p) => wifi(p, { qos: true }) },
  radiotap: { linktype: LINKTYPE.IEEE802_11_RADIO, link: (p) => wifi(p, { qos: true, radiotap: true }) },
};
for (const [name, l] of Object.entries(links)) save(`exchange-${name}`, exchange(l).writer);
save('exchange-ipv6', exchange({ ends: V6 }).writer);
save('exchange-linktype-ipv6', exchange({ ends: V6, linktype: LINKTYPE.IPV6, link: raw }).writer);
save('exchange-nanoseconds', exchange({ nanoseconds: true }).writer);
{
  const w = new PcapWriter({ linktype: LINKTYPE.IEEE802_11 });
  const inner = exchange({ linktype: LINKTYPE.RAW, link: raw });
  const packets = inner.writer.records.filter((_, i) => i % 2 === 1);
  for (let i = 0; i < packets.length; i += 2) w.add(100 + i, wifiAmsdu([packets[i], packets[i + 1]]));
  save('wifi-amsdu', w);
}
// IPv6 extension headers: hop-by-hop, destination options, routing.
save('ipv6-extensions', exchange({ ends: V6, ipOptions: { ext: [{ type: 0 }, { type: 60 }, { type: 43 }] } }).writer);

// --- tunnels ---------------------------------------------------------------------
const A = '192.0.2.1';
const B = '198.51.100.2';
const outer = (proto, body) => ether(ipv4({ src: A, dst: B, proto, payload: body }));
const inUdp = (dport, body) => ether(ipv4({ src: A, dst: B, proto: 17, payload: udp({ sport: 40001, dport, payload: body, src: A, dst: B }) }));
save('ipip', exchange({ link: (p) => outer(4, p) }).writer);
save('6in4', exchange({ ends: V6, link: (p) => outer(41, p) }).writer);
save('gre', exchange({ link: (p) => outer(47, Buffer.concat([Buffer.from([0, 0, 0x08, 0x00]), p])) }).writer);
save('gre-key-seq', exchange({ link: (p) => outer(47, Buffer.concat([Buffer.from([0x30, 0, 0x08, 0x00]), Buffer.alloc(8, 1), p])) }).writer);
save('gre-ethernet', exchange({ link: (p) => outer(47, Buffer.concat([Buffer.from([0, 0, 0x65, 0x58]), ether(p)])) }).writer);
save('gre-in-udp', exchange({ link: (p) => inUdp(4754, Buffer.concat([Buffer.from([0, 0, 0x08, 0x00]), p])) }).writer);
save('pptp', exchange({ link: (p) => outer(47, Buffer.concat([Buffer.from([0x30, 0x01, 0x88, 0x0b, 0, p.length + 4, 0, 1, 0, 0, 0, 1, 0xff, 0x03, 0x00, 0x21]), p])) }).writer);
const vxlan = Buffer.from([0x08, 0, 0, 0, 0, 0, 42, 0]);
save('vxlan', exchange({ link: (p) => inUdp(4789, Buffer.concat([vxlan, ether(p)])) }).writer);
save('geneve', exchange({ link: (p) => inUdp(6081, Buffer.concat([Buffer.from([0, 0, 0x65, 0x58, 0, 0, 7, 0]), ether(p)])) }).writer);
save('geneve-ip', exchange({ link: (p) => inUdp(6081, Buffer.concat([Buffer.from([0, 0, 0x08, 0x00, 0, 0, 7, 0]), p])) }).writer);
save('teredo', exchange({ ends: V6, link: (p) => inUdp(3544, p) }).writer);
save('teredo-origin', exchange({ ends: V6, link: (p) => inUdp(3544, Buffer.concat([Buffer.from([0, 0, 0x12, 0x34, 1, 2, 3, 4]), p])) }).writer);
const gtp = (p) => {
  const h = Buffer.from([0x30, 0xff, 0, 0, 0, 0, 0, 1]);
  h.writeUInt16BE(p.length, 2);
  return Buffer.concat([h, p]);
};
save('gtpv1', exchange({ link: (p) => inUdp(2152, gtp(p)) }).writer);
// AYIYA: identity 2 bytes (0x1_), signature 20 bytes (0x5_), forward, IPv4.
save('ayiya', exchange({ link: (p) => inUdp(5072, Buffer.concat([Buffer.from([0x11, 0x52, 0x11, 4, 0, 0, 0, 0]), Buffer.alloc(22), p])) }).writer);
save('nested', exchange({ link: (p) => outer(4, ipv4({ src: '192.0.2.9', dst: '192.0.2.10', proto: 4, payload: p })) }).writer);

// --- fragments --------------------------------------------------------------------
const BODY = 'The quick brown fox jumps over the lazy dog, twice over: ' + 'x'.repeat(50);
const fragmented = (ends, split) => {
  const f = new TcpFlow({ ...ends, t0: 100, step: 0.5, writer: new FragmentingWriter(split), link: raw });
  f.handshake();
  f.data('c', BODY);
  f.data('s', 'OK ' + BODY.toUpperCase());
  f.close();
  return f.writer.writer;
};
const cuts = (len, at) => [0, ...at.filter((x) => x < len)].map((s, i, a) => [s, a[i + 1] ?? len]);
save('frag4', fragmented({ ...V4, ipOptions: { df: false } }, (p) => fragmentIPv4(p, cuts(p.readUInt16BE(2) - 20, [16, 48]))));
save('frag4-reverse-overlap', fragmented({ ...V4, ipOptions: { df: false } }, (p) => {
  const len = p.readUInt16BE(2) - 20;
  return (len > 40 ? fragmentIPv4(p, [[0, 24], [16, 48], [40, len]]) : fragmentIPv4(p, [[0, len]])).reverse();
}));
save('frag6', fragmented(V6, (p) => fragmentIPv6(p, cuts(p.readUInt16BE(4), [8, 32]))));
// IPv6 fragments behind a hop-by-hop and a destination options header.
save('frag6-extensions', fragmented(V6, (p) => fragmentIPv6(p, cuts(p.readUInt16BE(4), [16])).map((f) => {
  const ext = Buffer.from([60, 0, 1, 4, 0, 0, 0, 0, 44, 0, 1, 4, 0, 0, 0, 0]); // hop-by-hop -> dest opts -> fragment
  const h = Buffer.from(f.subarray(0, 40));
  h[6] = 0;
  h.writeUInt16BE(f.readUInt16BE(4) + 16, 4);
  return Buffer.concat([h, ext, f.subarray(40)]);
})));

// --- TCP corners ---------------------------------------------------------------------
{
  // Out of order, a retransmission with other bytes, data acked but never
  // seen (a gap), options, a zero window, then a RST.
  const f = new TcpFlow({ ...V4, t0: 200, step: 0.1 });
  f.syn({ options: tcpOptions([{ mss: 1460 }, { sackOk: true }, { ts: [1, 0] }, { nop: true }, { wscale: 7 }]) });
  f.synAck({ options: tcpOptions([{ mss: 1400 }, { sackOk: true }, { ts: [9, 1] }, { nop: true }, { wscale: 2 }]) });
  f.ack('c');
  const base = f.c.seq;
  f.packet('c', { flags: 'PA', seq: base + 5, payload: Buffer.from('world') });
  f.packet('c', { flags: 'PA', seq: base, payload: Buffer.from('hello') });
  f.packet('c', { flags: 'PA', seq: base, payload: Buffer.from('HELLO') });
  f.c.seq = base + 10;
  f.packet('s', { flags: 'A', ack: base + 10, options: tcpOptions([{ sack: [[base, base + 10]] }]) });
  f.packet('c', { flags: 'PA', seq: base + 20, payload: Buffer.from('after a hole') });
  f.packet('s', { flags: 'A', ack: base + 32, window: 0 });
  f.c.seq = base + 32;
  f.data('s', 'reply');
  f.rst('c');
  save('tcp-corners', f.writer);
}
{
  // A connection met in mid-stream, a SYN-ACK before its SYN, a rejected
  // SYN, a simultaneous open, a FIN storm.
  const w = new PcapWriter();
  const mid = new TcpFlow({ writer: w, client: '10.1.0.1:5000', server: '10.1.0.2:443', t0: 300 });
  mid.data('c', 'midstream');
  mid.data('s', 'reply');
  mid.close();
  const rev = new TcpFlow({ writer: w, client: '10.1.0.3:5001', server: '10.1.0.4:80', t0: 301 });
  rev.packet('s', { flags: 'SA', seq: rev.s.seq, ack: rev.c.seq + 1 });
  rev.syn();
  rev.s.seq += 1;
  rev.ack('c');
  const rej = new TcpFlow({ writer: w, client: '10.1.0.5:5002', server: '10.1.0.6:22', t0: 302 });
  rej.syn();
  rej.packet('s', { flags: 'RA', seq: 0 });
  const sim = new TcpFlow({ writer: w, client: '10.1.0.7:5003', server: '10.1.0.8:5004', t0: 303 });
  sim.syn();
  sim.send('s', '', { flags: 'S' });
  sim.ack('c');
  sim.ack('s');
  const storm = new TcpFlow({ writer: w, client: '10.1.0.9:5005', server: '10.1.0.10:80', t0: 304, step: 0.001 });
  storm.handshake();
  for (let i = 0; i < 6; i++) storm.packet('c', { flags: 'FA' });
  for (let i = 0; i < 3; i++) storm.packet('s', { flags: 'R' });
  // Records in time order.
  const pairs = [];
  for (let i = 0; i < w.records.length; i += 2) pairs.push([w.records[i], w.records[i + 1]]);
  pairs.sort((a, b) => a[0].readUInt32LE(0) - b[0].readUInt32LE(0) || a[0].readUInt32LE(4) - b[0].readUInt32LE(4));
  w.records = pairs.flat();
  save('tcp-odd-starts', w);
}
{
  // Bad checksums (TCP and IPv4) among good packets.
  const f = new TcpFlow({ ...V4, t0: 400 });
  f.handshake();
  f.data('c', 'good');
  f.packet('c', { flags: 'PA', payload: Buffer.from('bad'), checksum: 0x1234 });
  f.packet('c', { flags: 'PA', payload: Buffer.from('bad ip'), ip: { checksum: 0x4321 } });
  f.close();
  save('checksums', f.writer);
}
{
  // A truncated capture (snaplen), and a connection left open.
  const f = new TcpFlow({ ...V4, t0: 500, writer: new PcapWriter({ snaplen: 60 }) });
  f.handshake();
  f.data('c', 'x'.repeat(200), { caplen: 40 });
  f.data('s', 'y'.repeat(100));
  save('truncated', f.writer);
}
{
  // A long history: retransmissions, zero windows and bad checksums on
  // both sides, ten times each (letters at 1 and 10), then gaps.
  const f = new TcpFlow({ ...V4, t0: 450, step: 0.01 });
  f.handshake();
  for (let i = 0; i < 10; i++) {
    for (const side of ['c', 's']) {
      const me = side === 'c' ? f.c : f.s;
      f.data(side, 'abc');
      f.packet(side, { flags: 'PA', seq: me.seq - 3, payload: Buffer.from('abc') });
      f.packet(side, { flags: 'A', window: 0 });
      f.packet(side, { flags: 'PA', payload: Buffer.from('x'), checksum: 0xbad });
    }
  }
  f.packet('s', { flags: 'A', ack: f.c.seq + 100 });
  f.c.seq += 100;
  f.data('c', 'after the gap');
  f.close();
  save('long-history', f.writer);
}
save('many-connections', manyConnections({ connections: 24, spacing: 0.01, step: 0.05 }).writer);
// Many UDP tunnel flows (VXLAN from 40 source ports): the table of outer
// flows grows, and with tight bounds fills.
save('many-vxlan-flows', exchange({ link: (() => {
  let k = 0;
  return (p) => ether(ipv4({ src: A, dst: B, proto: 17, payload: udp({ sport: 41000 + (k++ % 40), dport: 4789, payload: Buffer.concat([vxlan, ether(p)]), src: A, dst: B }) }));
})() }).writer);
// ERSPAN type II (GRE 0x88be with a sequence number).
save('erspan2', exchange({ link: (p) => outer(47, Buffer.concat([Buffer.from([0x10, 0, 0x88, 0xbe, 0, 0, 0, 1]), Buffer.alloc(8), ether(p)])) }).writer);
save('timers', attemptTrace({ until: 112 }));
{
  // Long silences: inactivity and SYN timeouts fire between packets.
  const w = new PcapWriter();
  const a = new TcpFlow({ writer: w, ...V4, t0: 1000 });
  a.handshake();
  a.data('c', 'then silence');
  const b = new TcpFlow({ writer: w, client: '10.0.0.3:40001', server: '10.0.0.4:80', t0: 1400 });
  b.syn();
  b.handshake();
  a.data('c', 'back after 10 minutes', { at: 1600 });
  save('silences', w);
}

// Other file forms of one trace: big-endian (swapped) pcap and pcapng.
{
  const le = exchange().writer.toBuffer();
  const be = Buffer.from(le);
  be.writeUInt32BE(0xa1b2c3d4, 0);
  be.writeUInt16BE(2, 4);
  be.writeUInt16BE(4, 6);
  be.writeUInt32BE(le.readUInt32LE(16), 16);
  be.writeUInt32BE(le.readUInt32LE(20), 20);
  for (let at = 24; at < le.length; ) {
    const caplen = le.readUInt32LE(at + 8);
    for (let k = 0; k < 16; k += 4) be.writeUInt32BE(le.readUInt32LE(at + k), at + k);
    at += 16 + caplen;
  }
  save('exchange-big-endian', be);
  writeFileSync(join(captureDir, 'crafted-exchange.pcapng'), pcapng(le));
  crafted.push(join(captureDir, 'crafted-exchange.pcapng'));
}

// A classic little-endian pcap as pcapng: section header, one interface,
// enhanced packet blocks.
function pcapng(pcap) {
  const block = (type, body) => {
    const padded = Buffer.concat([body, Buffer.alloc((4 - (body.length % 4)) % 4)]);
    const b = Buffer.alloc(12 + padded.length);
    b.writeUInt32LE(type, 0);
    b.writeUInt32LE(b.length, 4);
    padded.copy(b, 8);
    b.writeUInt32LE(b.length, b.length - 4);
    return b;
  };
  const shb = Buffer.alloc(16);
  shb.writeUInt32LE(0x1a2b3c4d, 0);
  shb.writeUInt16LE(1, 4);
  shb.writeBigInt64LE(-1n, 8);
  const idb = Buffer.alloc(8);
  idb.writeUInt16LE(pcap.readUInt32LE(20) & 0xffff, 0);
  idb.writeUInt32LE(pcap.readUInt32LE(16), 4);
  const blocks = [block(0x0a0d0d0a, shb), block(1, idb)];
  for (let at = 24; at + 16 <= pcap.length; ) {
    const caplen = pcap.readUInt32LE(at + 8);
    const t = BigInt(pcap.readUInt32LE(at)) * 1000000n + BigInt(pcap.readUInt32LE(at + 4));
    const h = Buffer.alloc(20);
    h.writeUInt32LE(Number(t >> 32n), 4);
    h.writeUInt32LE(Number(t & 0xffffffffn), 8);
    h.writeUInt32LE(caplen, 12);
    h.writeUInt32LE(pcap.readUInt32LE(at + 12), 16);
    blocks.push(block(6, Buffer.concat([h, pcap.subarray(at + 16, at + 16 + caplen)])));
    at += 16 + caplen;
  }
  return Buffer.concat(blocks);
}

// --- the bundled sample and the conformance traces -----------------------------------
const traces = [join(root, 'samples', 'sample.pcap')];
const walk = (dir) => {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (/\.pcap(ng)?$/.test(name)) traces.push(p);
  }
};
if (existsSync(conformance)) walk(conformance);

// The longest prefix of a capture file that ends at a record (pcap) or
// block (pcapng) boundary and fits `max` bytes.
function cut(buf, max) {
  if (buf.length <= max) return buf;
  const magic = buf.readUInt32LE(0);
  let at;
  if (magic === 0x0a0d0d0a) {
    const le = buf.readUInt32LE(8) === 0x1a2b3c4d;
    at = 0;
    while (at + 12 <= buf.length) {
      const len = le ? buf.readUInt32LE(at + 4) : buf.readUInt32BE(at + 4);
      if (len < 12 || at + len > max) break;
      at += len;
    }
  } else {
    const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
    at = 24;
    while (at + 16 <= buf.length) {
      const caplen = le ? buf.readUInt32LE(at + 8) : buf.readUInt32BE(at + 8);
      if (at + 16 + caplen > max) break;
      at += 16 + caplen;
    }
  }
  return buf.subarray(0, at);
}

const seen = new Set();
for (const t of traces) {
  // Names from the path below the corpus, so that equal names in
  // different folders stay apart.
  const rel = t.startsWith(conformance) ? t.slice(conformance.length + 1).replaceAll('/', '_') : basename(t);
  let name = rel;
  for (let k = 2; seen.has(name); k++) name = `${k}-${rel}`;
  seen.add(name);
  writeFileSync(join(captureDir, name), cut(readFileSync(t), MAX_CAPTURE_SEED));
}

// --- fuzz-packets inputs: the whole traces, split by the seed tool ----------------------
if (!existsSync(tool)) {
  console.error(`${tool} is missing: build the fuzz targets first (npm run fuzz does)`);
  process.exit(1);
}
execFileSync(tool, [packetDir, ...crafted, ...traces], { stdio: ['ignore', 'inherit', 'inherit'] });

// --- fuzz-render inputs: the packet inputs behind 15 empty flip slots, none used -----------
const renderDir = join(out, 'render');
mkdirSync(renderDir, { recursive: true });
for (const name of readdirSync(packetDir)) {
  writeFileSync(join(renderDir, name), Buffer.concat([Buffer.alloc(1 + 3 * 15), readFileSync(join(packetDir, name))]));
}
const count = (d) => readdirSync(d).length;
console.log(`seeds: ${count(captureDir)} capture files, ${count(packetDir)} packet inputs, ${count(renderDir)} render inputs in ${out}`);
