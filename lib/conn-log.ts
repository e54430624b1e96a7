/**
 * Zeek's conn.log, one row per finished connection, from the events Zeek's
 * own conn scripts use: connection_state_remove for the record, and
 * content_gap for missed_bytes.
 */
import { ConnRecord, EndpointState, TcpEvent } from './events';

/** One row of Zeek's conn.log, under its column names (as Zeek's JSON writer names them). */
export interface ConnLogRow {
  /** Time of the connection's first packet. */
  ts: number;
  /** The connection's uid. */
  uid: string;
  /** The originator's address. */
  'id.orig_h': string;
  /** The originator's port. */
  'id.orig_p': number;
  /** The responder's address. */
  'id.resp_h': string;
  /** The responder's port. */
  'id.resp_p': number;
  /** Always 'tcp'. */
  proto: 'tcp';
  /** Seconds from the first packet to the last (absent for a connection that did not last). */
  duration?: number;
  /** Bytes the originator sent, by sequence numbers (with duration). */
  orig_bytes?: number;
  /** Bytes the responder sent, by sequence numbers (with duration). */
  resp_bytes?: number;
  /** Zeek's summary of how the connection went: S0, S1, SF, REJ, S2, S3, RSTO, RSTR, RSTOS0, RSTRH, SH, SHR, OTH. */
  conn_state: string;
  /** Bytes acknowledged but never seen (the content gaps). */
  missed_bytes: number;
  /** The connection's history letters (absent when empty). */
  history?: string;
  /** Packets the originator sent. */
  orig_pkts: number;
  /** IP bytes the originator sent. */
  orig_ip_bytes: number;
  /** Packets the responder sent. */
  resp_pkts: number;
  /** IP bytes the responder sent. */
  resp_ip_bytes: number;
}

/** The events a conn.log needs. */
export const CONN_LOG_EVENTS = ['connection_state_remove', 'content_gap'] as const;

const { INACTIVE, SYN_SENT, SYN_ACK_SENT, PARTIAL, ESTABLISHED, CLOSED, RESET } = EndpointState;

/** Zeek's conn_state summary of a connection's final endpoint states. */
export function connState(conn: ConnRecord): string {
  const os = conn.orig.state;
  const rs = conn.resp.state;
  const inactive = (s: EndpointState) => s === INACTIVE || s === PARTIAL;
  if (rs === RESET) {
    if (os === SYN_SENT || os === SYN_ACK_SENT || (os === RESET && conn.orig.size === 0 && conn.resp.size === 0)) return 'REJ';
    return inactive(os) ? 'RSTRH' : 'RSTR';
  }
  if (os === RESET) {
    if (inactive(rs)) return /^\^?S[^HAFGIQ]*R.*$/.test(conn.history) ? 'RSTOS0' : 'OTH';
    return 'RSTO';
  }
  if (rs === CLOSED && os === CLOSED) return 'SF';
  if (os === CLOSED) return inactive(rs) ? 'SH' : 'S2';
  if (rs === CLOSED) return inactive(os) ? 'SHR' : 'S3';
  if (os === SYN_SENT && rs === INACTIVE) return 'S0';
  if (os === ESTABLISHED && rs === ESTABLISHED) return 'S1';
  return 'OTH';
}

/** Accumulates events and returns the conn.log rows they complete. */
export class ConnLog {
  #missed = new Map<string, number>();

  /** Takes an event; returns the row it completes (on connection_state_remove), if any. */
  add(ev: TcpEvent): ConnLogRow | undefined {
    if (ev.event === 'content_gap') {
      this.#missed.set(ev.uid, (this.#missed.get(ev.uid) ?? 0) + ev.length);
      return undefined;
    }
    if (ev.event !== 'connection_state_remove') return undefined;
    const c = ev.conn;
    const row: ConnLogRow = {
      ts: c.start_time,
      uid: ev.uid,
      'id.orig_h': ev.id.orig_h,
      'id.orig_p': ev.id.orig_p,
      'id.resp_h': ev.id.resp_h,
      'id.resp_p': ev.id.resp_p,
      proto: 'tcp',
      conn_state: connState(c),
      missed_bytes: this.#missed.get(ev.uid) ?? 0,
      orig_pkts: c.orig.num_pkts,
      orig_ip_bytes: c.orig.num_bytes_ip,
      resp_pkts: c.resp.num_pkts,
      resp_ip_bytes: c.resp.num_bytes_ip,
    };
    // As Zeek: duration and sizes only for connections that lasted.
    if (c.duration > 0) {
      row.duration = c.duration;
      row.orig_bytes = c.orig.size;
      row.resp_bytes = c.resp.size;
    }
    if (c.history) row.history = c.history;
    this.#missed.delete(ev.uid);
    return row;
  }
}
