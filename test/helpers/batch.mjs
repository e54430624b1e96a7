// Event batches crafted byte by byte in the format of
// native/core/output/batch_format.h, as the engine's event writer lays
// them out: for values no trace can produce (latin1 and control bytes in
// names and messages, 64-bit counters, -0, NaN, every state pair), fed to
// both renderings of the same batch.
//
//   const b = new BatchBuilder();
//   const d = b.descriptor({ uid: 42n, orig_h: '10.0.0.1', orig_p: 1, resp_h: '::1', resp_p: 2 });
//   const s = b.snapshot(d, { history: 'ShAD', start_time: 1.5, duration: 0 });
//   b.event(EVENT_KINDS.connection_EOF.id, s, 2.5, args.isOrig(true));
//   const buffer = b.finish();
import { addrBytes } from './pcap.mjs';

const MAGIC = 0x31425354;
const VERSION = 3;
const HEADER = 24;
const TAG_DESCRIPTOR = 0xf0;
const TAG_SNAPSHOT = 0xf1;
const TAG_SNAPSHOT_MOVED = 0xf2;
const align8 = (n) => (n + 7) & ~7;

// An address of the batch: 16 bytes, IPv4 mapped.
export function address(a) {
  if (Buffer.isBuffer(a)) return a;
  const b = addrBytes(a);
  if (b.length === 16) return b;
  return Buffer.concat([Buffer.alloc(10), Buffer.from([0xff, 0xff]), b]);
}

const u64 = (v) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(v));
  return b;
};

export class BatchBuilder {
  #records = [];
  #size = HEADER;
  #events = 0;
  #worker;

  /** `worker`: the engine of a sharded capture that wrote the batch. */
  constructor({ worker = 0 } = {}) {
    this.#worker = worker;
  }

  #add(tag, body, aux = 0) {
    const at = this.#size;
    const length = align8(8 + body.length);
    const r = Buffer.alloc(length);
    r[0] = tag;
    r[1] = aux;
    r.writeUInt32LE(length, 4);
    body.copy(r, 8);
    this.#records.push(r);
    this.#size += length;
    return at;
  }

  #at(offset) {
    let base = HEADER;
    for (const r of this.#records) {
      if (offset < base + r.length) return { record: r, at: offset - base };
      base += r.length;
    }
    throw new Error(`no record at ${offset}`);
  }

  descriptor({ uid, orig_h, orig_p, resp_h, resp_p, orientation = 0, slot = 0 }) {
    const body = Buffer.alloc(48);
    const o = address(orig_h);
    const r = address(resp_h);
    body.writeBigUInt64LE(BigInt(uid), 0);
    body.writeUInt16LE(orig_p, 8);
    body.writeUInt16LE(resp_p, 10);
    body.writeUInt32LE(slot, 12);
    o.copy(body, 16);
    r.copy(body, 32);
    // Both IPv4 (mapped) or not: the reader formats and caches by it.
    const mapped = (a) => a.subarray(0, 12).equals(Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]));
    const v4 = mapped(o) && mapped(r) ? 4 : 6;
    const at = this.#add(TAG_DESCRIPTOR, body, v4);
    this.#records[this.#records.length - 1][2] = orientation;
    return at;
  }

  /** history: a string (latin1) or a Buffer; endpoint counters may be bigints. */
  snapshot(descriptor, { history = '', orig = {}, resp = {}, start_time = 0, duration = 0 } = {}) {
    const h = Buffer.isBuffer(history) ? history : Buffer.from(history, 'latin1');
    const body = Buffer.alloc(72 + h.length + 8);
    body.writeUInt32LE(descriptor, 0);
    body[4] = orig.state ?? 0;
    body[5] = resp.state ?? 0;
    body.writeUInt16LE(h.length, 6);
    body.writeDoubleLE(start_time, 8);
    body.writeDoubleLE(duration, 16);
    const side = (e, at) => {
      u64(e.size ?? 0).copy(body, at);
      u64(e.num_pkts ?? 0).copy(body, at + 8);
      u64(e.num_bytes_ip ?? 0).copy(body, at + 16);
    };
    side(orig, 24);
    side(resp, 48);
    h.copy(body, 72);
    return this.#add(TAG_SNAPSHOT, body);
  }

  /** Marks the snapshot at `from` as moved to the one at `to`, as the writer does when a history outgrows it. */
  move(from, to) {
    const { record, at } = this.#at(from);
    record[at] = TAG_SNAPSHOT_MOVED;
    record.writeUInt32LE(to, at + 8);
  }

  event(kind, snapshot, ts, args = Buffer.alloc(0)) {
    const body = Buffer.alloc(16 + args.length);
    body.writeDoubleLE(ts, 0);
    body.writeUInt32LE(snapshot, 8);
    args.copy(body, 16);
    this.#events++;
    return this.#add(kind, body);
  }

  finish() {
    const header = Buffer.alloc(HEADER);
    header.writeUInt32LE(MAGIC, 0);
    header.writeUInt32LE(VERSION, 4);
    header.writeUInt32LE(this.#events, 8);
    header.writeUInt32LE(this.#records.length, 12);
    header.writeUInt32LE(this.#worker, 16);
    const all = Buffer.concat([header, ...this.#records]);
    return all.buffer.slice(all.byteOffset, all.byteOffset + all.length);
  }
}

// Arguments per ArgShape, laid out as native/core/output/event_writer.cc
// writes them.
export const args = {
  isOrig(isOrig) {
    return Buffer.from([isOrig ? 1 : 0]);
  },
  threshold(isOrig, threshold) {
    const b = Buffer.alloc(8);
    b[0] = isOrig ? 1 : 0;
    b.writeUInt32LE(threshold, 4);
    return b;
  },
  synPacket({ is_orig, DF, ttl, SACK_OK, size, win_size, win_scale, MSS, TSval, TSecr }) {
    const b = Buffer.alloc(24);
    b[0] = is_orig ? 1 : 0;
    b[1] = DF ? 1 : 0;
    b[2] = ttl;
    b[3] = SACK_OK ? 1 : 0;
    b.writeUInt32LE(size, 4);
    b.writeUInt16LE(win_size, 8);
    b.writeInt16LE(win_scale, 10);
    b.writeUInt16LE(MSS, 12);
    if (TSval !== undefined) {
      b[14] = 1;
      b.writeUInt32LE(TSval, 16);
      b.writeUInt32LE(TSecr, 20);
    }
    return b;
  },
  writeFailure(isOrig, msg) {
    const m = Buffer.isBuffer(msg) ? msg : Buffer.from(msg, 'latin1');
    const b = Buffer.alloc(8 + m.length);
    b[0] = isOrig ? 1 : 0;
    b.writeUInt32LE(m.length, 4);
    m.copy(b, 8);
    return b;
  },
  contents(isOrig, seq, data) {
    const b = Buffer.alloc(16 + data.length);
    b[0] = isOrig ? 1 : 0;
    b.writeUInt32LE(data.length, 4);
    u64(seq).copy(b, 8);
    data.copy(b, 16);
    return b;
  },
  option(isOrig, opt, optlen) {
    return Buffer.from([isOrig ? 1 : 0, opt, optlen]);
  },
  /** entries: { kind, length, shape: 0 bare | 1 data | 2 decoded, data: Buffer } */
  options(isOrig, entries) {
    const parts = [Buffer.from([isOrig ? 1 : 0, entries.length, 0, 0])];
    for (const e of entries) {
      const data = e.data ?? Buffer.alloc(0);
      const p = Buffer.alloc((4 + data.length + 3) & ~3);
      p[0] = e.kind;
      p[1] = e.length;
      p[2] = e.shape;
      p[3] = data.length;
      data.copy(p, 4);
      parts.push(p);
    }
    return Buffer.concat(parts);
  },
  packet(isOrig, flags, seq, ack, len, payload) {
    const b = Buffer.alloc(32 + payload.length);
    b[0] = isOrig ? 1 : 0;
    b[1] = flags;
    b.writeUInt32LE(len, 4);
    u64(seq).copy(b, 8);
    u64(ack).copy(b, 16);
    b.writeUInt32LE(payload.length, 24);
    payload.copy(b, 32);
    return b;
  },
  rexmit(isOrig, seq, len, dataInFlight, window) {
    const b = Buffer.alloc(24);
    b[0] = isOrig ? 1 : 0;
    b.writeUInt32LE(len, 4);
    u64(seq).copy(b, 8);
    b.writeUInt32LE(dataInFlight, 16);
    b.writeUInt32LE(window, 20);
    return b;
  },
  weird(name) {
    const n = Buffer.isBuffer(name) ? name : Buffer.from(name, 'latin1');
    const b = Buffer.alloc(4 + n.length);
    b.writeUInt32LE(n.length, 0);
    n.copy(b, 4);
    return b;
  },
  gap(isOrig, seq, length) {
    const b = Buffer.alloc(24);
    b[0] = isOrig ? 1 : 0;
    u64(seq).copy(b, 8);
    u64(length).copy(b, 16);
    return b;
  },
  inconsistency(flags, t1, t2) {
    const b = Buffer.alloc(8 + 2 * t1.length);
    b[0] = flags;
    b.writeUInt32LE(t1.length, 4);
    t1.copy(b, 8);
    t2.copy(b, 8 + t1.length);
    return b;
  },
};
