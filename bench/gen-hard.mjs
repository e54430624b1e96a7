#!/usr/bin/env node
/**
 * gen-hard: a deterministic pcap of harder TCP traffic than gen-bulk's
 * clean conversations, for throughput measurement.
 *
 *   node bench/gen-hard.mjs OUT.pcap [CONNECTIONS=3000] [CONCURRENT=300] [SEED=1]
 *
 * Connections interleave at random (CONCURRENT at a time). Each opens with a
 * SYN carrying MSS, SACK-permitted and window-scale options; the client
 * sends a request, the server a response of a heavy-tailed number of
 * 1448-byte segments (most short, some thousands long), the client acking
 * every second segment. Along the way:
 *   - retransmissions: a segment sent again (same bytes) after the next ack;
 *   - out-of-order: two adjacent segments sent in swapped order;
 *   - gaps: a segment never appears in the trace, but the client's acks
 *     cover it (data acked but never seen: Zeek's content gaps);
 *   - endings: FIN both ways; a half-close (the client FINs right after its
 *     request and the server keeps sending); an RST from the server in the
 *     middle of its response; a SYN never answered; a SYN rejected by RST;
 *   - initial sequence numbers near 2^32 for some connections (wrap-around).
 * Checksums are correct. Prints a one-line summary.
 */
import fs from 'node:fs';

const [out, connArg = '3000', concArg = '300', seedArg = '1'] = process.argv.slice(2);
if (!out) {
  console.error('usage: gen-hard.mjs OUT.pcap [CONNECTIONS] [CONCURRENT] [SEED]');
  process.exit(2);
}
const CONNECTIONS = Number(connArg);
const CONCURRENT = Number(concArg);

// mulberry32: small, fast, deterministic.
let state = Number(seedArg) >>> 0;
function rnd() {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const randInt = (lo, hi) => lo + Math.floor(rnd() * (hi - lo + 1));
const chance = (p) => rnd() < p;

const MSS = 1448;
const SYN = 0x02, ACK = 0x10, FIN = 0x01, RST = 0x04, PSH = 0x08;
// MSS 1460, NOP NOP SACK-permitted, NOP window scale 7.
const SYN_OPTIONS = Buffer.from([2, 4, 0x05, 0xb4, 1, 1, 4, 2, 1, 3, 3, 7]);

// Payload bytes come from one random pool, indexed by stream offset, so a
// retransmitted segment carries the very bytes of the original.
const POOL = Buffer.alloc(1 << 16);
for (let i = 0; i < POOL.length; i++) POOL[i] = Math.floor(rnd() * 256);
const POOL_MASK = POOL.length - 1;

const ETH = Buffer.from([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 8, 0]);
const outBuf = Buffer.alloc(8 << 20);
let outLen = 0;
const fd = fs.openSync(out, 'w');
function flush() {
  fs.writeSync(fd, outBuf, 0, outLen);
  outLen = 0;
}

function sum16(buf, from, to, acc) {
  let s = acc;
  let i = from;
  for (; i + 1 < to; i += 2) s += (buf[i] << 8) | buf[i + 1];
  if (i < to) s += buf[i] << 8;
  return s;
}
const fold = (s) => {
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 65536);
  return ~s & 0xffff;
};

let clockUs = 1700000000 * 1e6;
let packets = 0;

/** Writes one packet: p = {src, dst, sport, dport, seq, ack, flags, off, len, syn}. */
function emit(p) {
  const optLen = p.syn ? SYN_OPTIONS.length : 0;
  const tcpLen = 20 + optLen;
  const caplen = 14 + 20 + tcpLen + p.len;
  if (outLen + 16 + caplen > outBuf.length) flush();
  clockUs += randInt(5, 40);
  const b = outBuf;
  let o = outLen;
  b.writeUInt32LE(Math.floor(clockUs / 1e6), o);
  b.writeUInt32LE(clockUs % 1e6, o + 4);
  b.writeUInt32LE(caplen, o + 8);
  b.writeUInt32LE(caplen, o + 12);
  o += 16;
  ETH.copy(b, o);
  const ip = o + 14;
  b.fill(0, ip, ip + 20 + tcpLen);
  b[ip] = 0x45;
  b.writeUInt16BE(20 + tcpLen + p.len, ip + 2);
  b.writeUInt16BE(packets & 0xffff, ip + 4);
  b.writeUInt16BE(0x4000, ip + 6);
  b[ip + 8] = 64;
  b[ip + 9] = 6;
  b.writeUInt32BE(p.src, ip + 12);
  b.writeUInt32BE(p.dst, ip + 16);
  b.writeUInt16BE(fold(sum16(b, ip, ip + 20, 0)), ip + 10);
  const tcp = ip + 20;
  b.writeUInt16BE(p.sport, tcp);
  b.writeUInt16BE(p.dport, tcp + 2);
  b.writeUInt32BE(p.seq >>> 0, tcp + 4);
  b.writeUInt32BE(p.ack >>> 0, tcp + 8);
  b[tcp + 12] = (tcpLen / 4) << 4;
  b[tcp + 13] = p.flags;
  b.writeUInt16BE(p.syn ? 65535 : 4096, tcp + 14); // 4096 << 7 once scaled
  if (optLen) SYN_OPTIONS.copy(b, tcp + 20);
  const data = tcp + tcpLen;
  for (let i = 0; i < p.len; i++) b[data + i] = POOL[(p.off + i) & POOL_MASK];
  let s = (p.src >>> 16) + (p.src & 0xffff) + (p.dst >>> 16) + (p.dst & 0xffff) + 6 + tcpLen + p.len;
  s = sum16(b, tcp, data + p.len, s);
  b.writeUInt16BE(fold(s), tcp + 16);
  outLen = o + caplen;
  packets++;
}

/** Response length in segments: most short, some long, a few very long. */
function responseSegments() {
  const r = rnd();
  if (r < 0.7) return randInt(1, 8);
  if (r < 0.95) return randInt(9, 120);
  return randInt(300, 3000);
}

/** One connection, as a generator of packet descriptors. */
function* conversation(i) {
  const client = (0x0a100000 + (i % 40000) + 1) >>> 0;
  const server = (0xc0a80000 + (i % 97) + 1) >>> 0;
  const cport = 1024 + ((i * 13) % 60000);
  const sport = [80, 443, 8080, 25][i % 4];
  const wrapNear = chance(0.05);
  let a = wrapNear ? (0xffffffff - randInt(0, 200000)) >>> 0 : Math.floor(rnd() * 4294967296);
  let b = wrapNear ? (0xffffffff - randInt(0, 200000)) >>> 0 : Math.floor(rnd() * 4294967296);
  const c2s = (seq, ack, flags, len = 0, off = 0, syn = false) =>
    ({ src: client, dst: server, sport: cport, dport: sport, seq, ack, flags, len, off, syn });
  const s2c = (seq, ack, flags, len = 0, off = 0, syn = false) =>
    ({ src: server, dst: client, sport, dport: cport, seq, ack, flags, len, off, syn });

  yield c2s(a, 0, SYN, 0, 0, true);
  const kind = rnd();
  if (kind < 0.03) return; // never answered
  if (kind < 0.06) {
    yield s2c(0, a + 1, RST | ACK);
    return;
  }
  yield s2c(b, a + 1, SYN | ACK, 0, 0, true);
  a += 1;
  b += 1;
  yield c2s(a, b, ACK);

  // The request: one to three segments.
  let clientOff = i * 7919;
  for (let k = randInt(1, 3); k > 0; k--) {
    const len = randInt(80, 600);
    yield c2s(a, b, PSH | ACK, len, clientOff);
    a += len;
    clientOff += len;
  }
  const halfClose = kind < 0.16;
  if (halfClose) {
    yield c2s(a, b, FIN | ACK);
    a += 1;
  }

  // The response, with the client acking every second segment.
  const segments = responseSegments();
  const resetAt = kind >= 0.16 && kind < 0.24 ? randInt(0, segments - 1) : -1;
  const serverStart = b;
  let serverOff = i * 104729;
  let pendingRetransmit = null;
  let acked = b;
  for (let k = 0; k < segments; k++) {
    if (k === resetAt) {
      yield s2c(b, a, RST | ACK);
      return;
    }
    const len = k === segments - 1 ? randInt(1, MSS) : MSS;
    const seg = s2c(b, a, ACK | (k === segments - 1 ? PSH : 0), len, serverOff);
    b += len;
    serverOff += len;
    if (k + 1 < segments && k + 1 !== resetAt && chance(0.03)) {
      // Out of order: the next segment overtakes this one.
      const len2 = k + 1 === segments - 1 ? randInt(1, MSS) : MSS;
      const next = s2c(b, a, ACK, len2, serverOff);
      b += len2;
      serverOff += len2;
      k++;
      yield next;
      yield seg;
    } else if (chance(0.005) && k > 0) {
      // Lost before the capture point: never seen, acked all the same.
    } else {
      yield seg;
      if (chance(0.02)) pendingRetransmit = seg;
    }
    if (k % 2 === 1 || k === segments - 1) {
      acked = b;
      yield c2s(a, acked, ACK);
      if (pendingRetransmit) {
        yield pendingRetransmit;
        pendingRetransmit = null;
      }
    }
  }
  if (b - serverStart !== serverOff - i * 104729) throw new Error('internal: sequence bookkeeping');

  // The close.
  yield s2c(b, a, FIN | ACK);
  b += 1;
  if (halfClose) {
    yield c2s(a, b, ACK);
  } else {
    yield c2s(a, b, FIN | ACK);
    a += 1;
    yield s2c(b, a, ACK);
  }
}

// pcap header: microsecond timestamps, Ethernet.
const header = Buffer.alloc(24);
header.writeUInt32LE(0xa1b2c3d4, 0);
header.writeUInt16LE(2, 4);
header.writeUInt16LE(4, 6);
header.writeUInt32LE(65535, 16);
header.writeUInt32LE(1, 20);
header.copy(outBuf, 0);
outLen = 24;

const live = [];
let started = 0;
while (started < CONNECTIONS || live.length) {
  while (live.length < CONCURRENT && started < CONNECTIONS) live.push(conversation(started++));
  const j = Math.floor(rnd() * live.length);
  const r = live[j].next();
  if (r.done) {
    live[j] = live[live.length - 1];
    live.pop();
    continue;
  }
  emit(r.value);
}
flush();
fs.closeSync(fd);
console.log(`${out}: ${packets} packets, ${CONNECTIONS} connections`);
