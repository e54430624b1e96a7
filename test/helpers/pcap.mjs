// A small pcap writer and packet crafter for the tests: exact packets,
// built byte by byte, so every test stands on its own traces.
//
//   const w = new PcapWriter();                   // Ethernet, microseconds
//   w.add(1.5, ether(ipv4({ src, dst, payload: tcp({ ... }) })));
//   w.write(path);
//
// TcpFlow keeps sequence numbers for a conversation:
//   const f = new TcpFlow({ client: '10.0.0.1:40000', server: '10.0.0.2:80' });
//   f.syn(); f.synAck(); f.ack(); f.send('c', 'GET /'); f.fin('c'); ...
import { writeFileSync } from 'node:fs';

export const LINKTYPE = {
  NULL: 0, ETHERNET: 1, PPP: 9, FDDI: 10, PPP_SERIAL: 50, RAW: 101, LOOP: 108, LINUX_SLL: 113, IPV4: 228, IPV6: 229,
  NFLOG: 239, LINUX_SLL2: 276, IEEE802_11: 105, IEEE802_11_RADIO: 127,
};

export class PcapWriter {
  constructor({ linktype = LINKTYPE.ETHERNET, nanoseconds = false, snaplen = 262144 } = {}) {
    this.linktype = linktype;
    this.nanoseconds = nanoseconds;
    this.snaplen = snaplen;
    this.records = [];
  }

  // ts in seconds; `caplen` truncates the stored frame (the wire length
  // stays the frame's own unless `wirelen` says otherwise).
  add(ts, frame, { caplen, wirelen } = {}) {
    const stored = caplen !== undefined ? frame.subarray(0, caplen) : frame;
    const sec = Math.floor(ts);
    const frac = Math.round((ts - sec) * (this.nanoseconds ? 1e9 : 1e6));
    const h = Buffer.alloc(16);
    h.writeUInt32LE(sec, 0);
    h.writeUInt32LE(frac, 4);
    h.writeUInt32LE(stored.length, 8);
    h.writeUInt32LE(wirelen ?? frame.length, 12);
    this.records.push(h, stored);
    return this;
  }

  // Puts the records in time order (stable): for traces built one flow
  // after another.
  sortByTime() {
    const pairs = [];
    for (let i = 0; i < this.records.length; i += 2) pairs.push([this.records[i], this.records[i + 1]]);
    const scale = this.nanoseconds ? 1e9 : 1e6;
    const ts = (h) => h.readUInt32LE(0) + h.readUInt32LE(4) / scale;
    pairs.sort((a, b) => ts(a[0]) - ts(b[0]));
    this.records = pairs.flat();
    return this;
  }

  toBuffer() {
    const g = Buffer.alloc(24);
    g.writeUInt32LE(this.nanoseconds ? 0xa1b23c4d : 0xa1b2c3d4, 0);
    g.writeUInt16LE(2, 4);
    g.writeUInt16LE(4, 6);
    g.writeUInt32LE(this.snaplen, 16);
    g.writeUInt32LE(this.linktype, 20);
    return Buffer.concat([g, ...this.records]);
  }

  write(path) {
    writeFileSync(path, this.toBuffer());
    return path;
  }
}

// --- checksums --------------------------------------------------------------

export function onesComplement(buf, initial = 0) {
  let sum = initial;
  for (let i = 0; i + 1 < buf.length; i += 2) sum += buf.readUInt16BE(i);
  if (buf.length % 2) sum += buf[buf.length - 1] << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

// --- addresses ----------------------------------------------------------------

export function addrBytes(a) {
  if (a.includes(':')) {
    const [head, tail = ''] = a.split('::');
    const h = head ? head.split(':') : [];
    const t = tail ? tail.split(':') : [];
    const words = a.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
    const b = Buffer.alloc(16);
    words.forEach((w, i) => b.writeUInt16BE(parseInt(w || '0', 16), i * 2));
    return b;
  }
  return Buffer.from(a.split('.').map(Number));
}

// --- TCP --------------------------------------------------------------------

const FLAG_BITS = { F: 0x01, S: 0x02, R: 0x04, P: 0x08, A: 0x10, U: 0x20, E: 0x40, C: 0x80 };

// flags: a string of letters, e.g. 'S', 'SA', 'PA', 'FA', 'R' (E = ECE, C = CWR).
// src/dst (addresses) make the checksum right; `checksum` forces a value.
export function tcp({
  sport, dport, seq = 0, ack = 0, flags = '', window = 65535, urgent = 0,
  options = Buffer.alloc(0), payload = Buffer.alloc(0), dataOffset, src, dst, checksum,
}) {
  payload = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const optLen = (options.length + 3) & ~3;
  const hlen = 20 + optLen;
  const h = Buffer.alloc(hlen);
  h.writeUInt16BE(sport, 0);
  h.writeUInt16BE(dport, 2);
  h.writeUInt32BE(seq >>> 0, 4);
  h.writeUInt32BE(ack >>> 0, 8);
  h[12] = (dataOffset ?? hlen / 4) << 4;
  let f = 0;
  for (const c of flags) {
    if (!(c in FLAG_BITS)) throw new Error(`bad flag ${c}`);
    f |= FLAG_BITS[c];
  }
  h[13] = f;
  h.writeUInt16BE(window, 14);
  h.writeUInt16BE(urgent, 18);
  options.copy(h, 20);
  const seg = Buffer.concat([h, payload]);
  if (checksum !== undefined) seg.writeUInt16BE(checksum, 16);
  else if (src && dst) seg.writeUInt16BE(transportChecksum(seg, src, dst, 6), 16);
  return seg;
}

// The checksum of a TCP or UDP segment (its checksum field zero) over the
// pseudo-header of src and dst.
export function transportChecksum(seg, src, dst, proto) {
  const s = addrBytes(src);
  const d = addrBytes(dst);
  let pseudo;
  if (s.length === 4) {
    pseudo = Buffer.alloc(12);
    s.copy(pseudo, 0);
    d.copy(pseudo, 4);
    pseudo[9] = proto;
    pseudo.writeUInt16BE(seg.length, 10);
  } else {
    pseudo = Buffer.alloc(40);
    s.copy(pseudo, 0);
    d.copy(pseudo, 16);
    pseudo.writeUInt32BE(seg.length, 32);
    pseudo[39] = proto;
  }
  return 0xffff - onesComplement(seg, onesComplement(pseudo));
}

// --- UDP --------------------------------------------------------------------

// src/dst (addresses) make the checksum right (a computed 0 is sent as
// 0xffff); `checksum` forces a value (0: none).
export function udp({ sport, dport, payload = Buffer.alloc(0), src, dst, checksum, length }) {
  const seg = Buffer.concat([Buffer.alloc(8), payload]);
  seg.writeUInt16BE(sport, 0);
  seg.writeUInt16BE(dport, 2);
  seg.writeUInt16BE(length ?? seg.length, 4);
  if (checksum !== undefined) seg.writeUInt16BE(checksum, 6);
  else if (src && dst) seg.writeUInt16BE(transportChecksum(seg, src, dst, 17) || 0xffff, 6);
  return seg;
}

// TCP options by name: { mss, wscale, sackOk, ts: [val, ecr], sack: [[l, r], ...], nop, eol, raw }.
export function tcpOptions(list) {
  const parts = [];
  for (const o of list) {
    if (o.mss !== undefined) parts.push(Buffer.from([2, 4, o.mss >> 8, o.mss & 0xff]));
    else if (o.wscale !== undefined) parts.push(Buffer.from([3, 3, o.wscale]));
    else if (o.sackOk) parts.push(Buffer.from([4, 2]));
    else if (o.ts) {
      const b = Buffer.alloc(10);
      b[0] = 8;
      b[1] = 10;
      b.writeUInt32BE(o.ts[0] >>> 0, 2);
      b.writeUInt32BE(o.ts[1] >>> 0, 6);
      parts.push(b);
    } else if (o.sack) {
      const b = Buffer.alloc(2 + 8 * o.sack.length);
      b[0] = 5;
      b[1] = b.length;
      o.sack.forEach(([l, r], i) => {
        b.writeUInt32BE(l >>> 0, 2 + 8 * i);
        b.writeUInt32BE(r >>> 0, 6 + 8 * i);
      });
      parts.push(b);
    } else if (o.nop) parts.push(Buffer.from([1]));
    else if (o.eol) parts.push(Buffer.from([0]));
    else if (o.raw) parts.push(Buffer.from(o.raw));
    else throw new Error(`unknown option ${JSON.stringify(o)}`);
  }
  return Buffer.concat(parts);
}

// --- IP -----------------------------------------------------------------------

export function ipv4({
  src, dst, payload, proto = 6, ttl = 64, id = 0, df = true, mf = false, fragOffset = 0,
  options = Buffer.alloc(0), totalLength, checksum, ihl,
}) {
  const hl = 20 + options.length;
  const h = Buffer.alloc(hl);
  h[0] = 0x40 | (ihl ?? hl / 4);
  h.writeUInt16BE(totalLength ?? hl + payload.length, 2);
  h.writeUInt16BE(id, 4);
  h.writeUInt16BE((df ? 0x4000 : 0) | (mf ? 0x2000 : 0) | (fragOffset / 8), 6);
  h[8] = ttl;
  h[9] = proto;
  addrBytes(src).copy(h, 12);
  addrBytes(dst).copy(h, 16);
  options.copy(h, 20);
  h.writeUInt16BE(checksum ?? 0xffff - onesComplement(h), 10);
  return Buffer.concat([h, payload]);
}

// ext: [{ type: 0|43|60|44, data? , fragment?: { offset, mf, id } }]
export function ipv6({ src, dst, payload, nextHeader = 6, hopLimit = 64, ext = [], payloadLength }) {
  const parts = [];
  const types = ext.map((e) => e.type);
  ext.forEach((e, i) => {
    const next = i + 1 < ext.length ? types[i + 1] : nextHeader;
    if (e.type === 44) {
      const b = Buffer.alloc(8);
      b[0] = next;
      b.writeUInt16BE((e.fragment.offset & 0xfff8) | (e.fragment.mf ? 1 : 0), 2);
      b.writeUInt32BE(e.fragment.id >>> 0, 4);
      parts.push(b);
    } else {
      const data = e.data ?? Buffer.alloc(6);
      const len = 2 + data.length;
      if (len % 8) throw new Error('extension header length must be a multiple of 8');
      const b = Buffer.alloc(len);
      b[0] = next;
      b[1] = len / 8 - 1;
      data.copy(b, 2);
      parts.push(b);
    }
  });
  const body = Buffer.concat([...parts, payload]);
  const h = Buffer.alloc(40);
  h.writeUInt32BE(0x60000000, 0);
  h.writeUInt16BE(payloadLength ?? body.length, 4);
  h[6] = ext.length ? types[0] : nextHeader;
  h[7] = hopLimit;
  addrBytes(src).copy(h, 8);
  addrBytes(dst).copy(h, 24);
  return Buffer.concat([h, body]);
}

// --- link layers ----------------------------------------------------------------

const MAC_A = Buffer.from([2, 0, 0, 0, 0, 1]);
const MAC_B = Buffer.from([2, 0, 0, 0, 0, 2]);

// vlans: [id, ...] outermost first (802.1Q; `qinq` makes the first 802.1ad).
// mpls: [label, ...]; pppoe: true.
export function ether(payload, { type, vlans = [], qinq = false, mpls = [], pppoe = false } = {}) {
  const ipType = type ?? ((payload[0] >> 4) === 6 ? 0x86dd : 0x0800);
  let inner = payload;
  let innerType = ipType;
  if (pppoe) {
    const h = Buffer.alloc(8);
    h[0] = 0x11;
    h.writeUInt16BE(0x1234, 2);
    h.writeUInt16BE(inner.length + 2, 4);
    h.writeUInt16BE(innerType === 0x86dd ? 0x0057 : 0x0021, 6);
    inner = Buffer.concat([h, inner]);
    innerType = 0x8864;
  }
  if (mpls.length) {
    const labels = mpls.map((label, i) => {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(((label << 12) | (i === mpls.length - 1 ? 0x100 : 0) | 64) >>> 0, 0);
      return b;
    });
    inner = Buffer.concat([...labels, inner]);
    innerType = 0x8847;
  }
  for (let i = vlans.length - 1; i >= 0; i--) {
    const t = Buffer.alloc(4);
    t.writeUInt16BE(vlans[i] & 0xfff, 0);
    t.writeUInt16BE(innerType, 2);
    inner = Buffer.concat([t, inner]);
    innerType = i === 0 && qinq ? 0x88a8 : 0x8100;
  }
  const h = Buffer.alloc(14);
  MAC_B.copy(h, 0);
  MAC_A.copy(h, 6);
  h.writeUInt16BE(innerType, 12);
  return Buffer.concat([h, inner]);
}

export function sll(payload) {
  const h = Buffer.alloc(16);
  h.writeUInt16BE(0, 0);
  h.writeUInt16BE(1, 2);
  h.writeUInt16BE(6, 4);
  MAC_A.copy(h, 6);
  h.writeUInt16BE((payload[0] >> 4) === 6 ? 0x86dd : 0x0800, 14);
  return Buffer.concat([h, payload]);
}

export function sll2(payload) {
  const h = Buffer.alloc(20);
  h.writeUInt16BE((payload[0] >> 4) === 6 ? 0x86dd : 0x0800, 0);
  h.writeUInt32BE(2, 4);
  h.writeUInt16BE(1, 8);
  h[11] = 6;
  MAC_A.copy(h, 12);
  return Buffer.concat([h, payload]);
}

export function nullLink(payload) {
  const h = Buffer.alloc(4);
  h.writeUInt32LE((payload[0] >> 4) === 6 ? 30 : 2, 0);
  return Buffer.concat([h, payload]);
}

// LINKTYPE_LOOP (108): like NULL, but the family is in network byte order.
// FDDI: frame control, two addresses, then LLC/SNAP with the IP type.
export function fddi(payload) {
  const h = Buffer.alloc(21);
  h[0] = 0x50;
  h.set([0xaa, 0xaa, 0x03, 0, 0, 0], 13);
  h.writeUInt16BE(payload[0] >> 4 === 6 ? 0x86dd : 0x0800, 19);
  return Buffer.concat([h, payload]);
}

// PPP (LINKTYPE_PPP) with HDLC-like framing (ff 03) or without, and PPP
// in HDLC framing (LINKTYPE_PPP_SERIAL: address 0x0f for Cisco HDLC style).
export function ppp(payload, { hdlc = true } = {}) {
  const proto = payload[0] >> 4 === 6 ? 0x0057 : 0x0021;
  const h = hdlc ? Buffer.from([0xff, 0x03, proto >> 8, proto & 0xff]) : Buffer.from([proto >> 8, proto & 0xff]);
  return Buffer.concat([h, payload]);
}

// NFLOG: family, version 0, resource id, then TLVs in little-endian (the
// host order of the machines these tests run on): a prefix TLV padded to
// 32 bits, then the payload TLV.
export function nflog(payload) {
  const h = Buffer.from([payload[0] >> 4 === 6 ? 10 : 2, 0, 0, 0]);
  const prefix = Buffer.alloc(12);
  prefix.writeUInt16LE(4 + 5, 0); // length without the padding
  prefix.writeUInt16LE(10, 2); // NFULA_PREFIX
  prefix.write('test', 4);
  const tlv = Buffer.alloc(4);
  tlv.writeUInt16LE(4 + payload.length, 0);
  tlv.writeUInt16LE(9, 2); // NFULA_PAYLOAD
  return Buffer.concat([h, prefix, tlv, payload]);
}

// An 802.11 data frame (to the AP: To DS) with LLC/SNAP before the
// packet; `qos` adds a QoS field; `radiotap` puts an 8-byte radiotap
// header in front (LINKTYPE_IEEE802_11_RADIO).
export function wifi(payload, { qos = false, radiotap = false } = {}) {
  const h = Buffer.alloc(24 + (qos ? 2 : 0));
  h[0] = qos ? 0x88 : 0x08; // type data, subtype data or QoS data
  h[1] = 0x01; // To DS
  h.set(MAC_A, 4);
  h.set(MAC_B, 10);
  h.set(MAC_B, 16);
  const frame = Buffer.concat([h, snap(payload)]);
  return radiotap ? Buffer.concat([Buffer.from([0, 0, 8, 0, 0, 0, 0, 0]), frame]) : frame;
}

// An A-MSDU: one QoS data frame carrying several packets, each in a
// subframe (destination, source, length, LLC/SNAP, packet), followed by
// (length mod 4) bytes of padding but the last: what Zeek's IEEE802_11
// analyzer skips.
export function wifiAmsdu(payloads) {
  const h = Buffer.alloc(26);
  h[0] = 0x88;
  h[1] = 0x01;
  h.set(MAC_A, 4);
  h.set(MAC_B, 10);
  h.set(MAC_B, 16);
  h[24] = 0x80; // A-MSDU present
  const subs = payloads.map((p, i) => {
    const body = snap(p);
    const sub = Buffer.alloc(14);
    sub.set(MAC_B, 0);
    sub.set(MAC_A, 6);
    sub.writeUInt16BE(body.length, 12);
    const pad = i < payloads.length - 1 ? body.length % 4 : 0;
    return Buffer.concat([sub, body, Buffer.alloc(pad)]);
  });
  return Buffer.concat([h, ...subs]);
}

function snap(payload) {
  const llc = Buffer.from([0xaa, 0xaa, 0x03, 0, 0, 0, 0, 0]);
  llc.writeUInt16BE(payload[0] >> 4 === 6 ? 0x86dd : 0x0800, 6);
  return Buffer.concat([llc, payload]);
}

export function loopLink(payload) {
  const h = Buffer.alloc(4);
  h.writeUInt32BE((payload[0] >> 4) === 6 ? 24 : 2, 0);
  return Buffer.concat([h, payload]);
}

// --- conversations ----------------------------------------------------------------

function endpoint(s) {
  const i = s.lastIndexOf(':');
  return { addr: s.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(s.slice(i + 1)) };
}

// A TCP conversation with sequence numbers kept for both sides. Each call
// adds one packet at the current time (advanced by `step` seconds unless
// `at` is given) and returns the frame it wrote. Side 'c' is the client,
// 's' the server.
export class TcpFlow {
  constructor({
    client = '10.0.0.1:40000', server = '10.0.0.2:80', isn = 1000, serverIsn = 5000,
    t0 = 1000, step = 0.01, writer, link = ether, ipOptions = {},
  } = {}) {
    this.c = { ...endpoint(client), seq: isn >>> 0 };
    this.s = { ...endpoint(server), seq: serverIsn >>> 0 };
    this.t = t0;
    this.step = step;
    this.writer = writer ?? new PcapWriter();
    this.link = link;
    this.ipOptions = ipOptions;
    this.ipId = { c: 1, s: 1 };
  }

  get v6() {
    return this.c.addr.includes(':');
  }

  // Raw packet from side `from` with explicit fields; does not advance seqs.
  packet(from, { flags = '', seq, ack, payload = Buffer.alloc(0), window, options, at, checksum, caplen, ip = {}, tcpFields = {} } = {}) {
    const me = from === 'c' ? this.c : this.s;
    const peer = from === 'c' ? this.s : this.c;
    if (at !== undefined) this.t = at;
    else this.t = +(this.t + this.step).toFixed(6);
    const seg = tcp({
      sport: me.port, dport: peer.port, seq: seq ?? me.seq, ack: ack ?? (flags.includes('A') ? peer.seq : 0),
      flags, window, options, payload, src: me.addr, dst: peer.addr, checksum, ...tcpFields,
    });
    const pkt = this.v6
      ? ipv6({ src: me.addr, dst: peer.addr, payload: seg, ...this.ipOptions, ...ip })
      : ipv4({ src: me.addr, dst: peer.addr, payload: seg, id: this.ipId[from]++, ...this.ipOptions, ...ip });
    const frame = this.link(pkt);
    this.writer.add(this.t, frame, { caplen: caplen !== undefined ? frame.length - pkt.length + caplen : undefined });
    return frame;
  }

  // A packet that consumes sequence space as TCP would (SYN/FIN count one).
  // A payload may also come in the options (e.g. syn({ payload })); it
  // consumes sequence space either way.
  send(from, payload = '', { flags = 'PA', ...rest } = {}) {
    const me = from === 'c' ? this.c : this.s;
    if (rest.payload !== undefined) payload = rest.payload;
    const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
    const frame = this.packet(from, { flags, ...rest, payload: data });
    if (!flags.includes('R')) me.seq = (me.seq + data.length + (flags.includes('S') ? 1 : 0) + (flags.includes('F') ? 1 : 0)) >>> 0;
    return frame;
  }

  syn(opts = {}) { return this.send('c', '', { flags: 'S', ...opts }); }
  synAck(opts = {}) { return this.send('s', '', { flags: 'SA', ...opts }); }
  ack(from = 'c', opts = {}) { return this.send(from, '', { flags: 'A', ...opts }); }
  data(from, payload, opts = {}) { return this.send(from, payload, { flags: 'PA', ...opts }); }
  fin(from, opts = {}) { return this.send(from, '', { flags: 'FA', ...opts }); }
  rst(from, opts = {}) { return this.send(from, '', { flags: 'R', ...opts }); }

  handshake() {
    this.syn();
    this.synAck();
    this.ack('c');
    return this;
  }

  close() {
    this.fin('c');
    this.fin('s');
    this.ack('c');
    return this;
  }

  write(path) {
    return this.writer.write(path);
  }
}

// --- IP fragmentation ------------------------------------------------------------

// Splits an IPv4 packet (no fragmentation yet) into fragments covering the
// payload byte ranges [start, end) given (starts must be multiples of 8;
// ranges may overlap; `bytes` overrides a range's content). DF is cleared.
export function fragmentIPv4(pkt, ranges) {
  const hl = (pkt[0] & 0x0f) * 4;
  const payload = pkt.subarray(hl, pkt.readUInt16BE(2));
  return ranges.map(([start, end, bytes]) => {
    if (start % 8) throw new Error('fragment offsets are multiples of 8');
    const h = Buffer.from(pkt.subarray(0, hl));
    const piece = bytes ?? payload.subarray(start, end);
    h.writeUInt16BE(hl + piece.length, 2);
    h.writeUInt16BE((end < payload.length ? 0x2000 : 0) | (start / 8), 6);
    h.writeUInt16BE(0, 10);
    h.writeUInt16BE(0xffff - onesComplement(h), 10);
    return Buffer.concat([h, piece]);
  });
}

// The same for an IPv6 packet without extension headers: each fragment
// gets a fragment header (id `id`) after the fixed header.
export function fragmentIPv6(pkt, ranges, id = 0x1234567) {
  const next = pkt[6];
  const payload = pkt.subarray(40, 40 + pkt.readUInt16BE(4));
  return ranges.map(([start, end, bytes]) => {
    if (start % 8) throw new Error('fragment offsets are multiples of 8');
    const piece = bytes ?? payload.subarray(start, end);
    const h = Buffer.from(pkt.subarray(0, 40));
    h[6] = 44;
    h.writeUInt16BE(8 + piece.length, 4);
    const fh = Buffer.alloc(8);
    fh[0] = next;
    fh.writeUInt16BE(start | (end < payload.length ? 1 : 0), 2);
    fh.writeUInt32BE(id >>> 0, 4);
    return Buffer.concat([h, fh, piece]);
  });
}

// A writer for TcpFlow (use with `link: (p) => p`): each IP packet is turned
// into the packets `split(ipPacket, index)` returns (all at the packet's
// time), each framed by `link`.
export class FragmentingWriter {
  constructor(split, { link = ether, writer = new PcapWriter() } = {}) {
    this.split = split;
    this.link = link;
    this.writer = writer;
    this.count = 0;
  }

  add(ts, ipPacket) {
    for (const p of this.split(ipPacket, this.count++)) this.writer.add(ts, this.link(p));
    return this;
  }

  write(path) {
    return this.writer.write(path);
  }
}
