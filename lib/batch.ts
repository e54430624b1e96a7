/**
 * Reads the packed batches of native/core/output/batch_format.h into event
 * objects, one at a time (so that consumed events can die young). Byte
 * arguments are Buffers over the batch's own memory; ids and connection
 * records are built once per connection and shared by the events that
 * Zeek would show them to.
 */
import { TcpsensorError } from './errors';
import { ArgShape, ConnId, ConnRecord, EVENT_KINDS, EVENT_NAME_BY_ID, EndpointState, EventName, TcpEvent, TcpOption } from './events';
import { formatAddress, formatFlags, formatUid } from './format';

const MAGIC = 0x31425354;
export const BATCH_VERSION = 3;
const HEADER = 24;
const TAG_DESCRIPTOR = 0xf0; // 0xf1: snapshot, read through the events that name it
const TAG_SNAPSHOT_MOVED = 0xf2;
const EVENT_ARGS = 24;
const TWO32 = 4294967296;

const SHAPE_BY_ID: ArgShape[] = [];
for (const name of Object.keys(EVENT_KINDS) as EventName[]) SHAPE_BY_ID[EVENT_KINDS[name].id] = EVENT_KINDS[name].shape;

interface Identity {
  uid: string;
  id: ConnId;
}

// History strings repeat endlessly ("ShADadFf"); short ASCII ones are
// interned by their bytes (seven bits each, so the key stays exact).
const histories = new Map<number, string>();
const MAX_INTERNED = 4096;

function historyAt(bytes: Uint8Array, at: number, len: number): string {
  if (len <= 7) {
    let key = len;
    let ascii = true;
    for (let i = 0; i < len; i++) {
      const b = bytes[at + i];
      if (b >= 0x80) ascii = false;
      key = key * 128 + b;
    }
    let h = ascii ? histories.get(key) : undefined;
    if (h === undefined) {
      h = String.fromCharCode(...bytes.subarray(at, at + len));
      if (ascii && histories.size < MAX_INTERNED) histories.set(key, h);
    }
    return h;
  }
  return String.fromCharCode(...bytes.subarray(at, at + len));
}

// A connection shows up in many batches: its identity (uid string and
// id record) is built once and kept in a cache indexed by the connection's
// pool slot, which the descriptor carries. Slots are dense and reused, so
// an entry counts only if uid and orientation match too: a reused slot or
// a role flip (which swaps the sides) builds a fresh identity. Slots and
// uids are only unique within one engine, so each stream has its own
// cache. The key is kept in the cached object itself, cut into parts that
// stay V8 small integers (whole 32-bit values would be boxed), so a lookup
// touches the cache array and the identity, nothing else.
const CACHE_SIZE = 1 << 16;

interface CachedIdentity extends Identity {
  k0: number; // uid bits 0-23
  k1: number; // uid bits 24-47
  k2: number; // uid bits 48-63, orientation
}

// IPv4 address strings, direct-mapped by address: servers and busy
// clients recur across many connections.
const V4_CACHE_SIZE = 1 << 12;

/** What the batches of one stream share: identities seen in earlier batches. */
export class IdentityCache {
  #identities: (CachedIdentity | undefined)[] = new Array<CachedIdentity | undefined>(CACHE_SIZE).fill(undefined);
  #v4Keys = new Int32Array(V4_CACHE_SIZE);
  #v4Texts: (string | undefined)[] = new Array<string | undefined>(V4_CACHE_SIZE).fill(undefined);

  #address(view: DataView, bytes: Uint8Array, at: number, v4: boolean): string {
    if (!v4) return formatAddress(bytes, at);
    const key = view.getInt32(at + 12, false);
    const slot = (key ^ (key >>> 12) ^ (key >>> 24)) & (V4_CACHE_SIZE - 1);
    const text = this.#v4Texts[slot];
    if (text !== undefined && this.#v4Keys[slot] === key) return text;
    const fresh = formatAddress(bytes, at);
    this.#v4Keys[slot] = key;
    this.#v4Texts[slot] = fresh;
    return fresh;
  }

  /** The identity named by the descriptor at `at`. */
  at(view: DataView, bytes: Uint8Array, at: number): Identity {
    const lo = view.getUint32(at + 8, true);
    const hi = view.getUint32(at + 12, true);
    const k0 = lo & 0xffffff;
    const k1 = (lo >>> 24) | ((hi & 0xffff) << 8);
    const k2 = (hi >>> 16) | (bytes[at + 2] << 16);
    const index = view.getUint32(at + 20, true) & (CACHE_SIZE - 1);
    const hit = this.#identities[index];
    if (hit !== undefined && hit.k0 === k0 && hit.k1 === k1 && hit.k2 === k2) return hit;
    const v4 = bytes[at + 1] === 4; // both addresses IPv4 (mapped)
    const identity: CachedIdentity = {
      uid: formatUid(hi, lo),
      id: {
        orig_h: this.#address(view, bytes, at + 24, v4),
        orig_p: view.getUint16(at + 16, true),
        resp_h: this.#address(view, bytes, at + 40, v4),
        resp_p: view.getUint16(at + 18, true),
      },
      k0,
      k1,
      k2,
    };
    this.#identities[index] = identity;
    return identity;
  }
}

/** The identity caches of one stream, one per engine (worker) writing into it. */
export class IdentityCaches {
  #byWorker: IdentityCache[] = [];

  for(worker: number): IdentityCache {
    return (this.#byWorker[worker] ??= new IdentityCache());
  }
}

/** Walks one batch, event by event. */
export class BatchReader {
  readonly count: number;
  /** The worker (engine) that wrote the batch. */
  readonly worker: number;
  #tagWorker: boolean;
  #buffer: ArrayBuffer;
  #view: DataView;
  #bytes: Uint8Array;
  #at = HEADER;
  // The events that share a record (one connection's, in one group) are
  // consecutive: only the last record read is kept, and the identity it
  // names.
  #lastSnapAt = -1;
  #lastReal = -1;
  #record: ConnRecord | undefined;
  #identity: Identity | undefined;

  #cache: IdentityCache;

  /**
   * `caches` are the stream's: every batch of one stream gets the same.
   * With `tagWorker`, each event says which worker raised it.
   */
  constructor(buffer: ArrayBuffer, caches: IdentityCaches, tagWorker = false) {
    const view = new DataView(buffer);
    if (buffer.byteLength < HEADER || view.getUint32(0, true) !== MAGIC || view.getUint32(4, true) !== BATCH_VERSION) {
      throw new TcpsensorError('ERR_BATCH_FORMAT', 'batch from the addon has an unknown format (rebuild the addon?)');
    }
    this.#buffer = buffer;
    this.worker = view.getUint32(16, true);
    this.#cache = caches.for(this.worker);
    this.#tagWorker = tagWorker;
    this.#view = view;
    this.#bytes = new Uint8Array(buffer);
    this.count = view.getUint32(8, true);
  }

  /** The events not yet read, all at once. */
  rest(): TcpEvent[] {
    const out: TcpEvent[] = [];
    for (let ev = this.next(); ev !== undefined; ev = this.next()) out.push(ev);
    return out;
  }

  /** The next event, or undefined at the end of the batch. */
  next(): TcpEvent | undefined {
    const view = this.#view;
    const bytes = this.#bytes;
    const end = this.#buffer.byteLength;
    for (let at = this.#at; at < end; ) {
      const tag = bytes[at];
      const length = view.getUint32(at + 4, true);
      if (length < 8 || at + length > end) throw new TcpsensorError('ERR_BATCH_FORMAT', `corrupt batch record at offset ${at}`);
      if (tag >= TAG_DESCRIPTOR) {
        at += length;
        continue;
      }
      this.#at = at + length;
      const ev = this.#event(tag, at);
      if (this.#tagWorker) ev.worker = this.worker;
      return ev;
    }
    this.#at = end;
    return undefined;
  }

  #u64(at: number): number {
    return this.#view.getUint32(at, true) + this.#view.getUint32(at + 4, true) * TWO32;
  }

  // The record of the snapshot at `at` (built once, however many events
  // name it); #identity is then its connection's identity.
  #conn(at: number): ConnRecord {
    if (at === this.#lastSnapAt) return this.#record as ConnRecord;
    const view = this.#view;
    const bytes = this.#bytes;
    let real = at;
    while (bytes[real] === TAG_SNAPSHOT_MOVED) real = view.getUint32(real + 8, true);
    this.#lastSnapAt = at;
    if (real === this.#lastReal) return this.#record as ConnRecord;
    this.#lastReal = real;
    this.#identity = this.#cache.at(view, bytes, view.getUint32(real + 8, true));
    const conn: ConnRecord = {
      history: historyAt(bytes, real + 80, view.getUint16(real + 14, true)),
      orig: {
        size: this.#u64(real + 32),
        state: bytes[real + 12] as EndpointState,
        num_pkts: this.#u64(real + 40),
        num_bytes_ip: this.#u64(real + 48),
      },
      resp: {
        size: this.#u64(real + 56),
        state: bytes[real + 13] as EndpointState,
        num_pkts: this.#u64(real + 64),
        num_bytes_ip: this.#u64(real + 72),
      },
      start_time: view.getFloat64(real + 16, true),
      duration: view.getFloat64(real + 24, true),
    };
    this.#record = conn;
    return conn;
  }

  #buf(at: number, len: number): Buffer {
    return Buffer.from(this.#buffer, at, len);
  }

  #text(at: number, len: number): string {
    return Buffer.from(this.#buffer, at, len).toString('latin1');
  }

  #event(tag: number, at: number): TcpEvent {
    const name = EVENT_NAME_BY_ID[tag];
    if (!name) throw new TcpsensorError('ERR_BATCH_FORMAT', `unknown event kind ${tag} in batch`);
    const view = this.#view;
    const bytes = this.#bytes;
    const conn = this.#conn(view.getUint32(at + 16, true));
    const { uid, id } = this.#identity as Identity;
    const ts = view.getFloat64(at + 8, true);
    const a = at + EVENT_ARGS;
    switch (SHAPE_BY_ID[tag]) {
      case ArgShape.None:
        return { ts, event: name, uid, id, conn } as TcpEvent;
      case ArgShape.IsOrig:
        return { ts, event: name, uid, id, conn, is_orig: bytes[a] !== 0 } as TcpEvent;
      case ArgShape.Threshold:
        return {
          ts, event: name, uid, id, conn,
          is_orig: bytes[a] !== 0,
          threshold: view.getUint32(a + 4, true),
        } as TcpEvent;
      case ArgShape.SynPacket: {
        const pkt: Record<string, number | boolean> = {
          is_orig: bytes[a] !== 0,
          DF: bytes[a + 1] !== 0,
          ttl: bytes[a + 2],
          size: view.getUint32(a + 4, true),
          win_size: view.getUint16(a + 8, true),
          win_scale: view.getInt16(a + 10, true),
          MSS: view.getUint16(a + 12, true),
          SACK_OK: bytes[a + 3] !== 0,
        };
        if (bytes[a + 14]) {
          pkt.TSval = view.getUint32(a + 16, true);
          pkt.TSecr = view.getUint32(a + 20, true);
        }
        return { ts, event: name, uid, id, conn, pkt } as unknown as TcpEvent;
      }
      case ArgShape.WriteFailure:
        return {
          ts, event: name, uid, id, conn,
          is_orig: bytes[a] !== 0,
          msg: this.#text(a + 8, view.getUint32(a + 4, true)),
        } as TcpEvent;
      case ArgShape.Contents:
        return {
          ts, event: name, uid, id, conn,
          is_orig: bytes[a] !== 0,
          seq: this.#u64(a + 8),
          contents: this.#buf(a + 16, view.getUint32(a + 4, true)),
        } as TcpEvent;
      case ArgShape.Option:
        return {
          ts, event: name, uid, id, conn,
          is_orig: bytes[a] !== 0,
          opt: bytes[a + 1],
          optlen: bytes[a + 2],
        } as TcpEvent;
      case ArgShape.Options:
        return {
          ts, event: name, uid, id, conn,
          is_orig: bytes[a] !== 0,
          options: this.#options(a),
        } as TcpEvent;
      case ArgShape.Packet:
        return {
          ts, event: name, uid, id, conn,
          is_orig: bytes[a] !== 0,
          flags: formatFlags(bytes[a + 1]),
          seq: this.#u64(a + 8),
          ack: this.#u64(a + 16),
          len: view.getUint32(a + 4, true),
          payload: this.#buf(a + 32, view.getUint32(a + 24, true)),
        } as TcpEvent;
      case ArgShape.Rexmit:
        return {
          ts, event: name, uid, id, conn,
          is_orig: bytes[a] !== 0,
          seq: this.#u64(a + 8),
          len: view.getUint32(a + 4, true),
          data_in_flight: view.getUint32(a + 16, true),
          window: view.getUint32(a + 20, true),
        } as TcpEvent;
      case ArgShape.Weird:
        return { ts, event: name, uid, id, conn, name: this.#text(a + 4, view.getUint32(a, true)) } as TcpEvent;
      case ArgShape.Gap:
        return {
          ts, event: name, uid, id, conn,
          is_orig: bytes[a] !== 0,
          seq: this.#u64(a + 8),
          length: this.#u64(a + 16),
        } as TcpEvent;
      case ArgShape.Inconsistency: {
        const len = view.getUint32(a + 4, true);
        return {
          ts, event: name, uid, id, conn,
          t1: this.#buf(a + 8, len),
          t2: this.#buf(a + 8 + len, len),
          tcp_flags: formatFlags(bytes[a]),
        } as TcpEvent;
      }
      default:
        throw new TcpsensorError('ERR_BATCH_FORMAT', `no layout for event kind ${tag}`);
    }
  }

  #options(a: number): TcpOption[] {
    const view = this.#view;
    const bytes = this.#bytes;
    const count = bytes[a + 1];
    const options: TcpOption[] = [];
    let p = a + 4;
    for (let i = 0; i < count; i++) {
      const kind = bytes[p];
      const length = bytes[p + 1];
      const shape = bytes[p + 2];
      const dataLen = bytes[p + 3];
      const d = p + 4;
      const o: TcpOption = { kind, length };
      if (shape === 1) {
        o.data = this.#buf(d, dataLen);
      } else if (shape === 2) {
        switch (kind) {
          case 2:
            o.mss = view.getUint16(d, false);
            break;
          case 3:
            o.window_scale = bytes[d];
            break;
          case 5: {
            const sack: number[] = [];
            for (let j = 0; j + 4 <= dataLen; j += 4) sack.push(view.getUint32(d + j, false));
            o.sack = sack;
            break;
          }
          case 8:
            o.send_timestamp = view.getUint32(d, false);
            o.echo_timestamp = view.getUint32(d + 4, false);
            break;
          case 27:
            o.rate = bytes[d];
            o.ttl_diff = bytes[d + 1];
            o.qs_nonce = view.getUint32(d + 2, false);
            break;
        }
      }
      options.push(o);
      p += (4 + dataLen + 3) & ~3;
    }
    return options;
  }
}
