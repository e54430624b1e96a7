/**
 * Reads the packed batches of native/core/batch_format.h into event
 * objects. Byte arguments are Buffers over the batch's own memory; ids and
 * connection records are built once per connection and shared by the
 * events that Zeek would show them to.
 */
import { TcpsensorError } from './errors';
import { ArgShape, ConnId, ConnRecord, EVENT_KINDS, EVENT_NAME_BY_ID, EndpointState, TcpEvent, TcpOption } from './events';
import { formatAddress, formatFlags, formatUid } from './format';

const MAGIC = 0x31425354;
export const BATCH_VERSION = 1;
const HEADER = 16;
const TAG_DESCRIPTOR = 0xf0;
const TAG_SNAPSHOT = 0xf1;
const TAG_SNAPSHOT_MOVED = 0xf2;
const EVENT_ARGS = 24;

const SHAPE_BY_ID: ArgShape[] = [];
for (const name of Object.keys(EVENT_KINDS) as (keyof typeof EVENT_KINDS)[]) SHAPE_BY_ID[EVENT_KINDS[name].id] = EVENT_KINDS[name].shape;

interface Identity {
  uid: string;
  id: ConnId;
}

interface Shared {
  uid: string;
  id: ConnId;
  conn: ConnRecord;
}

const TWO32 = 4294967296;

export function decodeBatch(buffer: ArrayBuffer): TcpEvent[] {
  const view = new DataView(buffer);
  const bytes = new Uint8Array(buffer);
  if (buffer.byteLength < HEADER || view.getUint32(0, true) !== MAGIC || view.getUint32(4, true) !== BATCH_VERSION) {
    throw new TcpsensorError('ERR_BATCH_FORMAT', 'batch from the addon has an unknown format (rebuild the addon?)');
  }
  const count = view.getUint32(8, true);
  const out: TcpEvent[] = new Array(count);
  let n = 0;
  const identities = new Map<number, Identity>();
  const snapshots = new Map<number, Shared>();

  const u64 = (at: number): number => view.getUint32(at, true) + view.getUint32(at + 4, true) * TWO32;

  const identity = (at: number): Identity => {
    let ident = identities.get(at);
    if (!ident) {
      ident = {
        uid: formatUid(view.getUint32(at + 12, true), view.getUint32(at + 8, true)),
        id: {
          orig_h: formatAddress(bytes, at + 24),
          orig_p: view.getUint16(at + 16, true),
          resp_h: formatAddress(bytes, at + 40),
          resp_p: view.getUint16(at + 18, true),
        },
      };
      identities.set(at, ident);
    }
    return ident;
  };

  const snapshot = (at: number): Shared => {
    while (bytes[at] === TAG_SNAPSHOT_MOVED) at = view.getUint32(at + 8, true);
    let s = snapshots.get(at);
    if (!s) {
      const ident = identity(view.getUint32(at + 8, true));
      const historyLen = view.getUint16(at + 14, true);
      let history = '';
      for (let i = 0; i < historyLen; i++) history += String.fromCharCode(bytes[at + 80 + i]);
      s = {
        uid: ident.uid,
        id: ident.id,
        conn: {
          history,
          orig: {
            size: u64(at + 32),
            state: bytes[at + 12] as EndpointState,
            num_pkts: u64(at + 40),
            num_bytes_ip: u64(at + 48),
          },
          resp: {
            size: u64(at + 56),
            state: bytes[at + 13] as EndpointState,
            num_pkts: u64(at + 64),
            num_bytes_ip: u64(at + 72),
          },
          start_time: view.getFloat64(at + 16, true),
          duration: view.getFloat64(at + 24, true),
        },
      };
      snapshots.set(at, s);
    }
    return s;
  };

  const slice = (at: number, len: number): Buffer => Buffer.from(buffer, at, len);
  const text = (at: number, len: number): string => Buffer.from(buffer, at, len).toString('latin1');

  for (let at = HEADER; at < buffer.byteLength; ) {
    const tag = bytes[at];
    const length = view.getUint32(at + 4, true);
    if (length < 8 || at + length > buffer.byteLength) {
      throw new TcpsensorError('ERR_BATCH_FORMAT', `corrupt batch record at offset ${at}`);
    }
    if (tag === TAG_DESCRIPTOR || tag === TAG_SNAPSHOT || tag === TAG_SNAPSHOT_MOVED) {
      at += length;
      continue;
    }
    const name = EVENT_NAME_BY_ID[tag];
    if (!name) throw new TcpsensorError('ERR_BATCH_FORMAT', `unknown event kind ${tag} in batch`);
    const s = snapshot(view.getUint32(at + 16, true));
    const ts = view.getFloat64(at + 8, true);
    const a = at + EVENT_ARGS;
    let ev: TcpEvent;
    switch (SHAPE_BY_ID[tag]) {
      case ArgShape.None:
        ev = { ts, event: name, uid: s.uid, id: s.id, conn: s.conn } as TcpEvent;
        break;
      case ArgShape.IsOrig:
        ev = { ts, event: name, uid: s.uid, id: s.id, conn: s.conn, is_orig: bytes[a] !== 0 } as TcpEvent;
        break;
      case ArgShape.Threshold:
        ev = {
          ts, event: name, uid: s.uid, id: s.id, conn: s.conn,
          is_orig: bytes[a] !== 0,
          threshold: view.getUint32(a + 4, true),
        } as TcpEvent;
        break;
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
        ev = { ts, event: name, uid: s.uid, id: s.id, conn: s.conn, pkt } as unknown as TcpEvent;
        break;
      }
      case ArgShape.WriteFailure:
        ev = {
          ts, event: name, uid: s.uid, id: s.id, conn: s.conn,
          is_orig: bytes[a] !== 0,
          msg: text(a + 8, view.getUint32(a + 4, true)),
        } as TcpEvent;
        break;
      case ArgShape.Contents:
        ev = {
          ts, event: name, uid: s.uid, id: s.id, conn: s.conn,
          is_orig: bytes[a] !== 0,
          seq: u64(a + 8),
          contents: slice(a + 16, view.getUint32(a + 4, true)),
        } as TcpEvent;
        break;
      case ArgShape.Option:
        ev = {
          ts, event: name, uid: s.uid, id: s.id, conn: s.conn,
          is_orig: bytes[a] !== 0,
          opt: bytes[a + 1],
          optlen: bytes[a + 2],
        } as TcpEvent;
        break;
      case ArgShape.Options:
        ev = {
          ts, event: name, uid: s.uid, id: s.id, conn: s.conn,
          is_orig: bytes[a] !== 0,
          options: decodeOptions(view, bytes, buffer, a),
        } as TcpEvent;
        break;
      case ArgShape.Packet:
        ev = {
          ts, event: name, uid: s.uid, id: s.id, conn: s.conn,
          is_orig: bytes[a] !== 0,
          flags: formatFlags(bytes[a + 1]),
          seq: u64(a + 8),
          ack: u64(a + 16),
          len: view.getUint32(a + 4, true),
          payload: slice(a + 32, view.getUint32(a + 24, true)),
        } as TcpEvent;
        break;
      case ArgShape.Rexmit:
        ev = {
          ts, event: name, uid: s.uid, id: s.id, conn: s.conn,
          is_orig: bytes[a] !== 0,
          seq: u64(a + 8),
          len: view.getUint32(a + 4, true),
          data_in_flight: view.getUint32(a + 16, true),
          window: view.getUint32(a + 20, true),
        } as TcpEvent;
        break;
      case ArgShape.Weird:
        ev = { ts, event: name, uid: s.uid, id: s.id, conn: s.conn, name: text(a + 4, view.getUint32(a, true)) } as TcpEvent;
        break;
      case ArgShape.Gap:
        ev = {
          ts, event: name, uid: s.uid, id: s.id, conn: s.conn,
          is_orig: bytes[a] !== 0,
          seq: u64(a + 8),
          length: u64(a + 16),
        } as TcpEvent;
        break;
      case ArgShape.Inconsistency: {
        const len = view.getUint32(a + 4, true);
        ev = {
          ts, event: name, uid: s.uid, id: s.id, conn: s.conn,
          t1: slice(a + 8, len),
          t2: slice(a + 8 + len, len),
          tcp_flags: formatFlags(bytes[a]),
        } as TcpEvent;
        break;
      }
      default:
        throw new TcpsensorError('ERR_BATCH_FORMAT', `no layout for event kind ${tag}`);
    }
    out[n++] = ev;
    at += length;
  }
  out.length = n;
  return out;
}

function decodeOptions(view: DataView, bytes: Uint8Array, buffer: ArrayBuffer, a: number): TcpOption[] {
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
      o.data = Buffer.from(buffer, d, dataLen);
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
