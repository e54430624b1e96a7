/**
 * Zeek's TCP events as TypeScript types: one interface per argument shape,
 * one discriminated union on `event`. Names of events, fields and
 * arguments are Zeek's, unchanged.
 *
 * EVENT_KINDS mirrors the native list (native/core/event_kinds.h); a test
 * checks the two against each other, and the type checks below keep the
 * table and the union in step.
 */

/** Zeek's endpoint states (TCP_INACTIVE ... TCP_RESET). */
export enum EndpointState {
  INACTIVE = 0,
  SYN_SENT = 1,
  SYN_ACK_SENT = 2,
  PARTIAL = 3,
  ESTABLISHED = 4,
  CLOSED = 5,
  RESET = 6,
}

export interface ConnId {
  orig_h: string;
  orig_p: number;
  resp_h: string;
  resp_p: number;
}

export interface EndpointRecord {
  size: number;
  state: EndpointState;
  num_pkts: number;
  num_bytes_ip: number;
}

/**
 * The connection record as the event saw it. As in Zeek, the events raised
 * while one packet is processed share one record object, showing the
 * connection after the last of them.
 */
export interface ConnRecord {
  history: string;
  orig: EndpointRecord;
  resp: EndpointRecord;
  start_time: number;
  duration: number;
}

interface EventBase<N extends string> {
  /** Network time (seconds) at which the event was raised. */
  ts: number;
  event: N;
  /** Stable connection identifier. */
  uid: string;
  id: ConnId;
  conn: ConnRecord;
  /** With `workers` above 1: which worker (engine) raised the event. */
  worker?: number;
}

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

export type ConnectionEvent<N extends ConnectionOnlyName = ConnectionOnlyName> = N extends ConnectionOnlyName
  ? EventBase<N>
  : never;

export interface ConnectionEOFEvent extends EventBase<'connection_EOF'> {
  is_orig: boolean;
}

/** Zeek's SYN_packet record. */
export interface SynPacket {
  is_orig: boolean;
  DF: boolean;
  ttl: number;
  size: number;
  win_size: number;
  win_scale: number;
  MSS: number;
  SACK_OK: boolean;
  TSval?: number;
  TSecr?: number;
}

export interface ConnectionSYNPacketEvent extends EventBase<'connection_SYN_packet'> {
  pkt: SynPacket;
}

export interface ContentsFileWriteFailureEvent extends EventBase<'contents_file_write_failure'> {
  is_orig: boolean;
  msg: string;
}

export interface TcpContentsEvent extends EventBase<'tcp_contents'> {
  is_orig: boolean;
  seq: number;
  /** A view into the batch's memory (see README: buffer lifetime). */
  contents: Buffer;
}

export type ThresholdName =
  | 'tcp_multiple_checksum_errors'
  | 'tcp_multiple_gap'
  | 'tcp_multiple_retransmissions'
  | 'tcp_multiple_zero_windows';

export type ThresholdEvent<N extends ThresholdName = ThresholdName> = N extends ThresholdName
  ? EventBase<N> & { is_orig: boolean; threshold: number }
  : never;

export interface TcpOptionEvent extends EventBase<'tcp_option'> {
  is_orig: boolean;
  opt: number;
  optlen: number;
}

/** Zeek's TCP::Option record. */
export interface TcpOption {
  kind: number;
  length: number;
  data?: Buffer;
  mss?: number;
  window_scale?: number;
  sack?: number[];
  send_timestamp?: number;
  echo_timestamp?: number;
  rate?: number;
  ttl_diff?: number;
  qs_nonce?: number;
}

export interface TcpOptionsEvent extends EventBase<'tcp_options'> {
  is_orig: boolean;
  options: TcpOption[];
}

export interface TcpPacketEvent extends EventBase<'tcp_packet'> {
  is_orig: boolean;
  /** Flag letters in the order S F R A P U. */
  flags: string;
  seq: number;
  ack: number;
  len: number;
  /** The captured payload (may be shorter than `len`). */
  payload: Buffer;
}

export interface TcpRexmitEvent extends EventBase<'tcp_rexmit'> {
  is_orig: boolean;
  seq: number;
  len: number;
  data_in_flight: number;
  window: number;
}

export interface ConnWeirdEvent extends EventBase<'conn_weird'> {
  name: string;
}

export interface ContentGapEvent extends EventBase<'content_gap'> {
  is_orig: boolean;
  seq: number;
  length: number;
}

export interface RexmitInconsistencyEvent extends EventBase<'rexmit_inconsistency'> {
  t1: Buffer;
  t2: Buffer;
  tcp_flags: string;
}

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

export type EventName = TcpEvent['event'];

/** The event of a given name. */
export type EventOf<N extends EventName> = Extract<TcpEvent, { event: N }>;

/** How an event's arguments are laid out in a batch (native ArgShape). */
export enum ArgShape {
  None = 0,
  IsOrig = 1,
  SynPacket = 2,
  WriteFailure = 3,
  Contents = 4,
  Threshold = 5,
  Option = 6,
  Options = 7,
  Packet = 8,
  Rexmit = 9,
  Weird = 10,
  Gap = 11,
  Inconsistency = 12,
}

export interface EventKindInfo {
  readonly id: number;
  readonly shape: ArgShape;
  /** Part of `--events all` (what Zeek's conformance oracle records). */
  readonly inAll: boolean;
  /** On when no events are named (the per-packet ones are expensive). */
  readonly inDefault: boolean;
}

const k = (id: number, shape: ArgShape, inAll: boolean, inDefault: boolean): EventKindInfo => ({ id, shape, inAll, inDefault });

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

export const EVENT_NAMES = Object.keys(EVENT_KINDS) as EventName[];

/** Event names by numeric id (index = id). */
export const EVENT_NAME_BY_ID: readonly (EventName | undefined)[] = (() => {
  const byId: (EventName | undefined)[] = [];
  for (const name of EVENT_NAMES) byId[EVENT_KINDS[name].id] = name;
  return byId;
})();

export function isEventName(name: string): name is EventName {
  return Object.prototype.hasOwnProperty.call(EVENT_KINDS, name);
}
