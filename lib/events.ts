/**
 * Zeek's TCP events as TypeScript types: one interface per argument shape,
 * one discriminated union on `event`. Names of events, fields and
 * arguments are Zeek's, unchanged.
 *
 * EVENT_KINDS mirrors the native list (native/core/event_kinds.h); a test
 * checks the two against each other, and the type checks below keep the
 * table and the union in step.
 */

/** Zeek's endpoint states (TCP_INACTIVE ... TCP_RESET), as `conn.orig.state` and `conn.resp.state` carry them. */
export enum EndpointState {
  /** Nothing seen from this side yet. */
  INACTIVE = 0,
  /** A SYN sent, no reply seen. */
  SYN_SENT = 1,
  /** A SYN-ACK sent without the initial SYN having been seen. */
  SYN_ACK_SENT = 2,
  /** Data seen from this side without a SYN (picked up mid-stream). */
  PARTIAL = 3,
  /** The handshake completed. */
  ESTABLISHED = 4,
  /** A FIN sent. */
  CLOSED = 5,
  /** A RST sent. */
  RESET = 6,
}

/** Zeek's conn_id: the connection's 4-tuple, originator first. */
export interface ConnId {
  /** The originator's address (dotted IPv4, or IPv6 as inet_ntop writes it). */
  orig_h: string;
  /** The originator's TCP port. */
  orig_p: number;
  /** The responder's address. */
  resp_h: string;
  /** The responder's TCP port. */
  resp_p: number;
}

/** Zeek's endpoint record: one side of the connection. */
export interface EndpointRecord {
  /** Bytes this side sent, by sequence numbers (SYN and FIN excluded; includes bytes acked but never seen). */
  size: number;
  /** Zeek's TCP endpoint state. */
  state: EndpointState;
  /** Packets this side sent (Zeek's ConnSize analyzer). */
  num_pkts: number;
  /** IP bytes this side sent (headers included). */
  num_bytes_ip: number;
}

/**
 * The connection record as the event saw it. As in Zeek, the events raised
 * while one packet is processed share one record object, showing the
 * connection after the last of them.
 */
export interface ConnRecord {
  /** Zeek's history: one letter per kind of thing seen (ShADadFf, ...), upper case from the originator; c, g, t, w repeat at 1, 10, 100, ... */
  history: string;
  /** The originator's side. */
  orig: EndpointRecord;
  /** The responder's side. */
  resp: EndpointRecord;
  /** Time of the connection's first packet. */
  start_time: number;
  /** Seconds from the first packet to the last. */
  duration: number;
}

/** What every event carries. */
export interface EventBase<N extends string> {
  /** Network time (seconds, from packet timestamps) at which the event was raised. */
  ts: number;
  /** The event's name: the discriminant of {@link TcpEvent}. */
  event: N;
  /** Stable connection identifier ("C" and base-62 digits), the same on all of a connection's events. */
  uid: string;
  /** The connection's 4-tuple. */
  id: ConnId;
  /** The connection record at the moment of the event. */
  conn: ConnRecord;
  /** With `workers` above 1: which worker (engine) raised the event. */
  worker?: number;
}

/**
 * The events with no arguments besides the connection:
 * - `new_connection`: the first packet of a new connection.
 * - `new_connection_contents`: a new connection whose stream will be reassembled.
 * - `connection_established`: the responder's SYN-ACK answered the originator's SYN.
 * - `connection_attempt`: a SYN went unanswered for `tcpAttemptDelay`.
 * - `connection_finished`: both sides closed with a FIN.
 * - `connection_first_ACK`: the originator's first ACK after its SYN.
 * - `connection_half_finished`: one side closed while the other was never seen.
 * - `connection_partial_close`: the first thing a side did was to close, and the other stayed quiet for `tcpPartialCloseDelay`.
 * - `connection_pending`: still open when the capture ended.
 * - `connection_rejected`: the responder answered the SYN with a RST.
 * - `connection_reset`: a side aborted the connection with a RST.
 * - `partial_connection`: picked up mid-stream, without the handshake.
 * - `connection_state_remove`: the connection is forgotten; its record is final (conn.log is written from it).
 * - `connection_timeout`: removed for inactivity, or left over after a close.
 * - `connection_reused`: a new connection began on the 4-tuple of an old one, which ends here.
 * - `connection_flipped`: originator and responder swapped roles (history gets `^`).
 */
export type ConnectionOnlyName =
  | 'new_connection'
  | 'new_connection_contents'
  | 'connection_established'
  | 'connection_attempt'
  | 'connection_finished'
  | 'connection_first_ACK'
  | 'connection_half_finished'
  | 'connection_partial_close'
  | 'connection_pending'
  | 'connection_rejected'
  | 'connection_reset'
  | 'partial_connection'
  | 'connection_state_remove'
  | 'connection_timeout'
  | 'connection_reused'
  | 'connection_flipped';

/** An event with no arguments besides the connection (see {@link ConnectionOnlyName}). */
export type ConnectionEvent<N extends ConnectionOnlyName = ConnectionOnlyName> = N extends ConnectionOnlyName
  ? EventBase<N>
  : never;

/** One side finished sending: it closed (FIN or RST) and all its data was delivered. */
export interface ConnectionEOFEvent extends EventBase<'connection_EOF'> {
  /** True for the originator's side. */
  is_orig: boolean;
}

/** Zeek's SYN_packet record: what a SYN or SYN-ACK said. */
export interface SynPacket {
  /** True if the originator sent it. */
  is_orig: boolean;
  /** The IP Don't Fragment bit. */
  DF: boolean;
  /** The IP TTL (hop limit). */
  ttl: number;
  /** The IP packet's length. */
  size: number;
  /** The window field, unscaled. */
  win_size: number;
  /** The window scale option, or -1 without it. */
  win_scale: number;
  /** The MSS option, or 0 without it. */
  MSS: number;
  /** Whether the SACK-permitted option was present. */
  SACK_OK: boolean;
  /** The timestamp option's value, when present. */
  TSval?: number;
  /** The timestamp option's echo reply, when present. */
  TSecr?: number;
}

/** A SYN or SYN-ACK, with its IP and TCP header details (per packet: off unless requested). */
export interface ConnectionSYNPacketEvent extends EventBase<'connection_SYN_packet'> {
  /** What the packet said. */
  pkt: SynPacket;
}

/** Writing a connection's stream to its contents file failed (Zeek's set_contents_file). */
export interface ContentsFileWriteFailureEvent extends EventBase<'contents_file_write_failure'> {
  /** The side whose stream was being written. */
  is_orig: boolean;
  /** What went wrong. */
  msg: string;
}

/** Reassembled stream data, delivered in order (for the connections content delivery selects). */
export interface TcpContentsEvent extends EventBase<'tcp_contents'> {
  /** The side that sent the data. */
  is_orig: boolean;
  /** Relative sequence number of the first byte (the stream's first byte is 1). */
  seq: number;
  /** The data: a view into the batch's memory (see the README on buffer lifetime). */
  contents: Buffer;
}

/**
 * The events raised when a count of one kind of trouble on one side
 * reaches 10, 100, 1000, ...: bad checksums, content gaps,
 * retransmissions, zero windows.
 */
export type ThresholdName =
  | 'tcp_multiple_checksum_errors'
  | 'tcp_multiple_gap'
  | 'tcp_multiple_retransmissions'
  | 'tcp_multiple_zero_windows';

/** A count of checksum errors, gaps, retransmissions or zero windows on one side crossed a power of ten. */
export type ThresholdEvent<N extends ThresholdName = ThresholdName> = N extends ThresholdName
  ? EventBase<N> & {
      /** The side concerned. */
      is_orig: boolean;
      /** The threshold crossed (10, 100, ...). */
      threshold: number;
    }
  : never;

/** One TCP option of a packet (per packet: off unless requested). */
export interface TcpOptionEvent extends EventBase<'tcp_option'> {
  /** The side that sent the packet. */
  is_orig: boolean;
  /** The option's kind. */
  opt: number;
  /** The option's length, as the packet gives it. */
  optlen: number;
}

/** Zeek's TCP::Option record: one option, decoded where Zeek decodes it. */
export interface TcpOption {
  /** The option's kind. */
  kind: number;
  /** The option's length. */
  length: number;
  /** The option's bytes after kind and length, for options Zeek does not decode. */
  data?: Buffer;
  /** Maximum segment size (kind 2). */
  mss?: number;
  /** Window scale (kind 3). */
  window_scale?: number;
  /** SACK blocks' edges (kind 5). */
  sack?: number[];
  /** Timestamp value (kind 8). */
  send_timestamp?: number;
  /** Timestamp echo reply (kind 8). */
  echo_timestamp?: number;
  /** Quick-start rate (kind 27). */
  rate?: number;
  /** Quick-start TTL difference (kind 27). */
  ttl_diff?: number;
  /** Quick-start nonce (kind 27). */
  qs_nonce?: number;
}

/** All TCP options of a packet, decoded (per packet: off unless requested). */
export interface TcpOptionsEvent extends EventBase<'tcp_options'> {
  /** The side that sent the packet. */
  is_orig: boolean;
  /** The options, in packet order. */
  options: TcpOption[];
}

/** Every TCP packet of a connection (per packet: off unless requested). */
export interface TcpPacketEvent extends EventBase<'tcp_packet'> {
  /** The side that sent it. */
  is_orig: boolean;
  /** Flag letters in the order S F R A P U. */
  flags: string;
  /** Relative sequence number. */
  seq: number;
  /** Relative acknowledgement number (0 without ACK). */
  ack: number;
  /** Payload length on the wire. */
  len: number;
  /** The captured payload (may be shorter than `len`); a view into the batch's memory. */
  payload: Buffer;
}

/** A retransmission, as Zeek's TCPSTATS analyzer detects it. */
export interface TcpRexmitEvent extends EventBase<'tcp_rexmit'> {
  /** The side that retransmitted. */
  is_orig: boolean;
  /** Relative sequence number of the retransmitted segment. */
  seq: number;
  /** Its length. */
  len: number;
  /** Bytes sent but not yet acknowledged. */
  data_in_flight: number;
  /** The peer's advertised window. */
  window: number;
}

/** A named anomaly of the connection: Zeek's weird (`SYN_seq_jump`, `bad_TCP_checksum`, ...). */
export interface ConnWeirdEvent extends EventBase<'conn_weird'> {
  /** Zeek's name for the anomaly. */
  name: string;
}

/** Data acknowledged but never seen: a hole the stream skips (named explicitly; not in 'all'). */
export interface ContentGapEvent extends EventBase<'content_gap'> {
  /** The side whose stream has the hole. */
  is_orig: boolean;
  /** Relative sequence number where the hole starts. */
  seq: number;
  /** Its length in bytes. */
  length: number;
}

/** A retransmission carried other bytes than the original (named explicitly; not in 'all'). */
export interface RexmitInconsistencyEvent extends EventBase<'rexmit_inconsistency'> {
  /** The bytes first seen. */
  t1: Buffer;
  /** The bytes of the retransmission. */
  t2: Buffer;
  /** The retransmission's flag letters. */
  tcp_flags: string;
}

/** Every event a sensor raises: a discriminated union on `event`. */
export type TcpEvent =
  | ConnectionEvent
  | ConnectionEOFEvent
  | ConnectionSYNPacketEvent
  | ContentsFileWriteFailureEvent
  | TcpContentsEvent
  | ThresholdEvent
  | TcpOptionEvent
  | TcpOptionsEvent
  | TcpPacketEvent
  | TcpRexmitEvent
  | ConnWeirdEvent
  | ContentGapEvent
  | RexmitInconsistencyEvent;

/** The name of any event. */
export type EventName = TcpEvent['event'];

/** The name an event of type `N` carries. */
export interface Named<N extends EventName> {
  /** The event's name. */
  event: N;
}

/** The event of a given name. */
export type EventOf<N extends EventName> = Extract<TcpEvent, Named<N>>;

/** How an event's arguments are laid out in a batch (native ArgShape); each member names the event interface it builds. */
export enum ArgShape {
  /** {@link ConnectionEvent} */
  None = 0,
  /** {@link ConnectionEOFEvent} */
  IsOrig = 1,
  /** {@link ConnectionSYNPacketEvent} */
  SynPacket = 2,
  /** {@link ContentsFileWriteFailureEvent} */
  WriteFailure = 3,
  /** {@link TcpContentsEvent} */
  Contents = 4,
  /** {@link ThresholdEvent} */
  Threshold = 5,
  /** {@link TcpOptionEvent} */
  Option = 6,
  /** {@link TcpOptionsEvent} */
  Options = 7,
  /** {@link TcpPacketEvent} */
  Packet = 8,
  /** {@link TcpRexmitEvent} */
  Rexmit = 9,
  /** {@link ConnWeirdEvent} */
  Weird = 10,
  /** {@link ContentGapEvent} */
  Gap = 11,
  /** {@link RexmitInconsistencyEvent} */
  Inconsistency = 12,
}

/** What the engine knows of an event kind. */
export interface EventKindInfo {
  /** Its numeric id (the tag in the batch format). */
  readonly id: number;
  /** How its arguments are laid out. */
  readonly shape: ArgShape;
  /** Part of `--events all` (what Zeek's conformance oracle records). */
  readonly inAll: boolean;
  /** On when no events are named (the per-packet ones are expensive). */
  readonly inDefault: boolean;
}

const k = (id: number, shape: ArgShape, inAll: boolean, inDefault: boolean): EventKindInfo => ({ id, shape, inAll, inDefault });

/** Every event by name: its id, argument layout, and whether 'all' and the default include it. */
export const EVENT_KINDS: { readonly [N in EventName]: EventKindInfo } = {
  new_connection: k(1, ArgShape.None, true, true),
  new_connection_contents: k(2, ArgShape.None, true, true),
  connection_established: k(3, ArgShape.None, true, true),
  connection_attempt: k(4, ArgShape.None, true, true),
  connection_finished: k(5, ArgShape.None, true, true),
  connection_first_ACK: k(6, ArgShape.None, true, true),
  connection_half_finished: k(7, ArgShape.None, true, true),
  connection_partial_close: k(8, ArgShape.None, true, true),
  connection_pending: k(9, ArgShape.None, true, true),
  connection_rejected: k(10, ArgShape.None, true, true),
  connection_reset: k(11, ArgShape.None, true, true),
  partial_connection: k(12, ArgShape.None, true, true),
  connection_EOF: k(13, ArgShape.IsOrig, true, true),
  connection_SYN_packet: k(14, ArgShape.SynPacket, true, false),
  contents_file_write_failure: k(15, ArgShape.WriteFailure, true, true),
  tcp_contents: k(16, ArgShape.Contents, true, true),
  tcp_multiple_checksum_errors: k(17, ArgShape.Threshold, true, true),
  tcp_multiple_gap: k(18, ArgShape.Threshold, true, true),
  tcp_multiple_retransmissions: k(19, ArgShape.Threshold, true, true),
  tcp_multiple_zero_windows: k(20, ArgShape.Threshold, true, true),
  tcp_option: k(21, ArgShape.Option, true, false),
  tcp_options: k(22, ArgShape.Options, true, false),
  tcp_packet: k(23, ArgShape.Packet, true, false),
  tcp_rexmit: k(24, ArgShape.Rexmit, true, true),
  connection_state_remove: k(25, ArgShape.None, true, true),
  connection_timeout: k(26, ArgShape.None, true, true),
  connection_reused: k(27, ArgShape.None, true, true),
  connection_flipped: k(28, ArgShape.None, true, true),
  conn_weird: k(29, ArgShape.Weird, true, true),
  content_gap: k(30, ArgShape.Gap, false, false),
  rexmit_inconsistency: k(31, ArgShape.Inconsistency, false, false),
};

/** Every event name. */
export const EVENT_NAMES = Object.keys(EVENT_KINDS) as EventName[];

/** Event names by numeric id (index = id). */
export const EVENT_NAME_BY_ID: readonly (EventName | undefined)[] = (() => {
  const byId: (EventName | undefined)[] = [];
  for (const name of EVENT_NAMES) byId[EVENT_KINDS[name].id] = name;
  return byId;
})();

/** Whether `name` names an event. */
export function isEventName(name: string): name is EventName {
  return Object.prototype.hasOwnProperty.call(EVENT_KINDS, name);
}
