/**
 * Sources and options: their types, their validation (TypeError for a
 * wrong type, RangeError for a value out of range, before native code sees
 * anything), and their translation into the addon's config.
 *
 * Zeek's tunables are listed once, in TUNABLES, with the camelCase option
 * name, Zeek's name (what `--set` takes) and the kind of value; Options in
 * native/core/options.h holds the same set with the same defaults.
 */
import os from 'node:os';
import type { NativeConfig } from './native';
import { CONN_LOG_EVENTS } from './conn-log';
import { EVENT_KINDS, EVENT_NAMES, EventName, isEventName } from './events';
import { TEXT_FORMATS, TextFormat } from './text';

/** A capture file to read. */
export interface FileSource {
  /** A pcap or pcapng file. */
  file: string;
  /** A BPF filter applied while reading. */
  filter?: string;
}

/** A network interface to capture on (root, or CAP_NET_RAW). */
export interface InterfaceSource {
  /** A network interface to capture on. */
  interface: string;
  /** A BPF filter applied in the kernel. */
  filter?: string;
  /** Bytes captured per packet (default 262144). */
  snaplen?: number;
  /** Promiscuous mode (default true). */
  promiscuous?: boolean;
  /**
   * Kernel capture ring in bytes (default 64 MiB: about a third of a second
   * of a busy 1 Gb/s link, room to ride out a pause of the capture thread).
   */
  bufferSize?: number;
  /**
   * Wake for each packet as it arrives (default false). Off, the kernel
   * hands packets over a ring block at a time, or after 50 ms at the latest:
   * far fewer wake-ups and drops under load, for at most that much latency.
   */
  immediate?: boolean;
}

/** Where packets come from: a file or an interface. */
export type Source = FileSource | InterfaceSource;

/** What kind of value a tunable takes. */
export type TunableKind = 'interval' | 'count' | 'bool' | 'ports';

/** One of Zeek's tunables: its option name, its Zeek name, its kind of value. */
export interface Tunable {
  /** The option's name in {@link TunableOptions}. */
  option: keyof TunableOptions;
  /** Zeek's name (what `--set` takes). */
  zeek: string;
  /** Seconds, a count, a boolean or a set of ports. */
  kind: TunableKind;
  /** The largest value allowed, where Zeek's own range is smaller than a count's. */
  max?: number;
}

/**
 * Zeek's tunables, camelCased, with Zeek's defaults (its script constants
 * of the same names, scripts/base/init-bare.zeek). Intervals are seconds of
 * network time. The CLI takes each by its Zeek name: `--set tcp_attempt_delay=1`.
 */
export interface TunableOptions {
  /** tcp_SYN_timeout: when to first look whether a new connection has gone stale, after its first packet (default 5). */
  tcpSYNTimeout?: number;
  /** tcp_session_timer: after that, how often to look again; and after a close, how long to wait for more activity before looking (default 6). */
  tcpSessionTimer?: number;
  /** tcp_connection_linger: a closed connection quiet this long is inactive; reused sooner, it is a premature_connection_reuse (default 5). */
  tcpConnectionLinger?: number;
  /** tcp_attempt_delay: how long a SYN may go unanswered before connection_attempt (default 5). */
  tcpAttemptDelay?: number;
  /** tcp_close_delay: how long a connection closed by both sides is kept before removal (default 5). */
  tcpCloseDelay?: number;
  /** tcp_reset_delay: how long a reset connection is kept before removal (default 5). */
  tcpResetDelay?: number;
  /** tcp_partial_close_delay: how long a side that closed first may wait for the other before connection_partial_close (default 3). */
  tcpPartialCloseDelay?: number;
  /** tcp_inactivity_timeout: an established connection quiet this long is timed out (default 300; interactive services get Conn::port_inactivity_timeouts). */
  tcpInactivityTimeout?: number;
  /** udp_inactivity_timeout: a new TCP connection's inactivity timeout until its handshake ends, and an idle UDP tunnel flow's lifetime (default 60). */
  udpInactivityTimeout?: number;
  /** tcp_storm_thresh: FINs or RSTs from one side past which a storm is a weird (default 1000). */
  tcpStormThresh?: number;
  /** tcp_storm_interarrival_thresh: the most seconds between storm packets (default 1). */
  tcpStormInterarrivalThresh?: number;
  /** tcp_max_initial_window: the most data plausibly sent before any ack; beyond it, the peer's acks are taken to be missing (default 16384). */
  tcpMaxInitialWindow?: number;
  /** tcp_max_above_hole_without_any_acks: with the peer's acks missing, bytes held above a hole before the hole is taken as lost (default 16384). */
  tcpMaxAboveHoleWithoutAnyAcks?: number;
  /** tcp_excessive_data_without_further_acks: bytes held with none of them acked before reassembly gives up on the connection (default 10 MiB). */
  tcpExcessiveDataWithoutFurtherAcks?: number;
  /** tcp_max_old_segments: acknowledged segments kept to tell retransmitted bytes from the first ones (rexmit_inconsistency; default 0). */
  tcpMaxOldSegments?: number;
  /** tcp_content_deliver_all_orig: tcp_contents for every originator side (default false). */
  contentDeliverAllOrig?: boolean;
  /** tcp_content_deliver_all_resp: tcp_contents for every responder side (default false). */
  contentDeliverAllResp?: boolean;
  /** tcp_content_delivery_ports_orig: tcp_contents for the originator side of connections to these responder ports (default none). */
  contentDeliveryPortsOrig?: readonly number[];
  /** tcp_content_delivery_ports_resp: tcp_contents for the responder side of connections to these responder ports (default none). */
  contentDeliveryPortsResp?: readonly number[];
  /** ignore_checksums: analyse packets with bad checksums (Zeek's -C; default false). */
  ignoreChecksums?: boolean;
  /** likely_server_ports: ports that make their side the responder when the first packet is not a SYN (default none, as Zeek without its protocol analyzers). */
  likelyServerPorts?: readonly number[];
  /** frag_timeout: seconds an incomplete IP datagram's fragments are kept (default 300). */
  fragTimeout?: number;
  /** Weird::sampling_threshold: weirds of one name per connection reported before sampling starts (default 25). */
  weirdSamplingThreshold?: number;
  /** Weird::sampling_rate: after the threshold, one weird in this many is reported (default 1000). */
  weirdSamplingRate?: number;
  /** Weird::sampling_duration: seconds after which a connection's weird counts start over (default 600). */
  weirdSamplingDuration?: number;
}

/** Every tunable, once: option name, Zeek name, kind. */
export const TUNABLES: readonly Tunable[] = [
  { option: 'tcpSYNTimeout', zeek: 'tcp_SYN_timeout', kind: 'interval' },
  { option: 'tcpSessionTimer', zeek: 'tcp_session_timer', kind: 'interval' },
  { option: 'tcpConnectionLinger', zeek: 'tcp_connection_linger', kind: 'interval' },
  { option: 'tcpAttemptDelay', zeek: 'tcp_attempt_delay', kind: 'interval' },
  { option: 'tcpCloseDelay', zeek: 'tcp_close_delay', kind: 'interval' },
  { option: 'tcpResetDelay', zeek: 'tcp_reset_delay', kind: 'interval' },
  { option: 'tcpPartialCloseDelay', zeek: 'tcp_partial_close_delay', kind: 'interval' },
  { option: 'tcpInactivityTimeout', zeek: 'tcp_inactivity_timeout', kind: 'interval' },
  { option: 'udpInactivityTimeout', zeek: 'udp_inactivity_timeout', kind: 'interval' },
  // FIN/RST counts are kept in 16 bits.
  { option: 'tcpStormThresh', zeek: 'tcp_storm_thresh', kind: 'count', max: 65535 },
  { option: 'tcpStormInterarrivalThresh', zeek: 'tcp_storm_interarrival_thresh', kind: 'interval' },
  { option: 'tcpMaxInitialWindow', zeek: 'tcp_max_initial_window', kind: 'count' },
  { option: 'tcpMaxAboveHoleWithoutAnyAcks', zeek: 'tcp_max_above_hole_without_any_acks', kind: 'count' },
  { option: 'tcpExcessiveDataWithoutFurtherAcks', zeek: 'tcp_excessive_data_without_further_acks', kind: 'count' },
  { option: 'tcpMaxOldSegments', zeek: 'tcp_max_old_segments', kind: 'count' },
  { option: 'contentDeliverAllOrig', zeek: 'tcp_content_deliver_all_orig', kind: 'bool' },
  { option: 'contentDeliverAllResp', zeek: 'tcp_content_deliver_all_resp', kind: 'bool' },
  { option: 'contentDeliveryPortsOrig', zeek: 'tcp_content_delivery_ports_orig', kind: 'ports' },
  { option: 'contentDeliveryPortsResp', zeek: 'tcp_content_delivery_ports_resp', kind: 'ports' },
  { option: 'ignoreChecksums', zeek: 'ignore_checksums', kind: 'bool' },
  { option: 'likelyServerPorts', zeek: 'likely_server_ports', kind: 'ports' },
  { option: 'fragTimeout', zeek: 'frag_timeout', kind: 'interval' },
  { option: 'weirdSamplingThreshold', zeek: 'weird_sampling_threshold', kind: 'count' },
  { option: 'weirdSamplingRate', zeek: 'weird_sampling_rate', kind: 'count' },
  { option: 'weirdSamplingDuration', zeek: 'weird_sampling_duration', kind: 'interval' },
];

/** What open() takes beside the source: Zeek's tunables, event selection, our own bounds and batching. */
export interface SensorOptions extends TunableOptions {
  /** Events to raise: names, or 'all' (default: all but the per-packet ones). */
  events?: readonly EventName[] | 'all';
  /**
   * Inactivity timeouts by service port, set when a connection is
   * established (Zeek's Conn::port_inactivity_timeouts; default 1 hour
   * for 21, 22, 23 and 513).
   */
  portInactivityTimeouts?: Readonly<Record<number, number>>;
  /** Bound on stream bytes buffered for reassembly (default 256 MiB). */
  maxReassemblyBytes?: number;
  /** Bound on bytes held by IP fragment reassembly (default 64 MiB). */
  maxFragmentBytes?: number;
  /**
   * TCP connections held at once (default: sized for the machine, see
   * defaultMaxConnections()). A new connection past it first evicts the one
   * least worth keeping: a half-open connection that has seen only its SYN
   * (oldest first), else a connection only one side has spoken in, else any
   * other, each least recently active first (to the second of network
   * time). The evicted connection gets `connection_pending` (if its
   * analysis is still active) and `connection_state_remove`, as at the end
   * of input, and is counted in `stats().connectionsEvicted`. With
   * `workers`, each worker holds an equal share.
   */
  maxConnections?: number;
  /** Events per batch crossing into JavaScript (default 4096). */
  batchEvents?: number;
  /** Bytes per batch (default 1 MiB). */
  batchBytes?: number;
  /**
   * Batches queued ahead of the reader (default 4 reading a file, where the
   * capture waits for the reader; 256 live, where a batch that finds the
   * queue full, or 256 MiB queued, is dropped and counted).
   */
  highWaterMark?: number;
  /**
   * Checksum policy when checksums are not ignored: 'zeek' (default)
   * discards packets with bad checksums and warns once, as Zeek does, when
   * more than 5% of them have one; 'auto' (Suricata's) turns validation off,
   * with the same warning, when more than a tenth of the first 1000 packets
   * have one.
   */
  checksums?: 'zeek' | 'auto';
  /**
   * Engines analysing the capture, each on a thread of its own (default 1).
   * Live, as many capture handles join one PACKET_FANOUT group on the
   * interface (a symmetric flow hash keeps both directions of a connection
   * on one worker), each with its own network time. Reading a file, one
   * thread decodes and dispatches each packet by its (inner) connection and
   * the workers share network time: the events are those of one worker,
   * merged in a documented, deterministic order (read step, then worker).
   */
  workers?: number;
  /**
   * Seconds of network time between the sensor's 'stats' events
   * (StatsRecord: packets, drops, capture loss, connections, events,
   * memory). Off by default.
   */
  statsInterval?: number;
  /**
   * Render text in C++ instead of delivering event objects: 'ndjson' (one
   * event a line, byte arguments in base64) or 'conn' (Zeek's conn.log
   * rows; the events default to, and must include, connection_state_remove
   * and content_gap). Read it with sensor.textBatches(); such a sensor has
   * no event iterator.
   */
  output?: TextFormat;
  /** Aborting it closes the sensor; iteration then throws an AbortError. */
  signal?: AbortSignal;
}

const SOURCE_KEYS = new Set(['file', 'interface', 'filter', 'snaplen', 'promiscuous', 'bufferSize', 'immediate']);
const OPTION_KEYS = new Set<string>([
  ...TUNABLES.map((t) => t.option),
  'events',
  'portInactivityTimeouts',
  'maxReassemblyBytes',
  'maxFragmentBytes',
  'maxConnections',
  'batchEvents',
  'batchBytes',
  'highWaterMark',
  'checksums',
  'statsInterval',
  'workers',
  'output',
  'signal',
]);

/**
 * What one connection's state is taken to cost when maxConnections is
 * sized: a full record (392 bytes), its index entry, its timers and the
 * out-of-line state a troubled connection grows (weird counts, per-endpoint
 * extras). Measured: 80 bytes for a half-open connection that has seen only
 * its SYN, 520 for a typical full one, 740 for one with a weird; only a
 * pathological one (many kinds of weird, a history of hundreds of letters)
 * costs more. Stream bytes are bounded apart (maxReassemblyBytes).
 */
export const CONNECTION_BYTES = 1024;
export const MAX_CONNECTIONS_FLOOR = 16384;
export const MAX_CONNECTIONS_CEILING = 1 << 24;
/** The largest maxConnections accepted (index slots are 31 bits). */
export const MAX_CONNECTIONS_LIMIT = 2 ** 30;

/** The memory this process may count on: the machine's, or its cgroup's limit if lower. */
export function availableMemory(): number {
  const total = os.totalmem();
  const constrained = (process as { constrainedMemory?: () => number | undefined }).constrainedMemory?.();
  return constrained && constrained > 0 && constrained < total ? constrained : total;
}

/**
 * maxConnections when none is given: an eighth of the memory at
 * CONNECTION_BYTES each (3 M connections on a 24 GiB machine), at least
 * 16,384 and at most 16,777,216. At the bound, connection state takes at
 * most that eighth; peak RSS stays below maxConnections × 1 KiB plus
 * maxReassemblyBytes, maxFragmentBytes and the process itself.
 */
export function defaultMaxConnections(memoryBytes: number = availableMemory()): number {
  const n = Math.floor(memoryBytes / 8 / CONNECTION_BYTES);
  return Math.min(MAX_CONNECTIONS_CEILING, Math.max(MAX_CONNECTIONS_FLOOR, n));
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkNumber(name: string, v: unknown, min: number, max: number, integer: boolean): number {
  if (typeof v !== 'number' || Number.isNaN(v)) throw new TypeError(`${name} must be a number`);
  if ((integer && !Number.isInteger(v)) || v < min || v > max) {
    throw new RangeError(`${name} must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max}], got ${v}`);
  }
  return v;
}

function checkBool(name: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw new TypeError(`${name} must be a boolean`);
  return v;
}

function checkPorts(name: string, v: unknown): number[] {
  if (!Array.isArray(v)) throw new TypeError(`${name} must be an array of port numbers`);
  return v.map((p, i) => checkNumber(`${name}[${i}]`, p, 0, 65535, true));
}

function checkString(name: string, v: unknown): string {
  if (typeof v !== 'string') throw new TypeError(`${name} must be a string`);
  if (v.length === 0) throw new RangeError(`${name} must not be empty`);
  return v;
}

/** Event names to ids: 'all', a list, or the default set. */
export function resolveEvents(events: unknown): number[] {
  if (events === undefined) return EVENT_NAMES.filter((n) => EVENT_KINDS[n].inDefault).map((n) => EVENT_KINDS[n].id);
  if (events === 'all') return EVENT_NAMES.filter((n) => EVENT_KINDS[n].inAll).map((n) => EVENT_KINDS[n].id);
  if (!Array.isArray(events)) throw new TypeError("events must be 'all' or an array of event names");
  return events.map((n: unknown) => {
    if (typeof n !== 'string') throw new TypeError('events must contain event names');
    if (!isEventName(n)) throw new RangeError(`unknown event '${n}'`);
    return EVENT_KINDS[n].id;
  });
}

/** Validates a source and options; returns the addon's config. */
export function buildConfig(source: unknown, options: unknown): NativeConfig {
  if (!isRecord(source)) throw new TypeError('source must be { file } or { interface }');
  if (options !== undefined && !isRecord(options)) throw new TypeError('options must be an object');
  const opts: Record<string, unknown> = options ?? {};
  for (const key of Object.keys(source)) if (!SOURCE_KEYS.has(key)) throw new TypeError(`unknown source field '${key}'`);
  for (const key of Object.keys(opts)) if (!OPTION_KEYS.has(key)) throw new TypeError(`unknown option '${key}'`);

  const hasFile = source.file !== undefined;
  const hasIface = source.interface !== undefined;
  if (hasFile === hasIface) throw new TypeError('source needs exactly one of file and interface');

  const config: NativeConfig = { events: resolveEvents(opts.output === 'conn' && opts.events === undefined ? [...CONN_LOG_EVENTS] : opts.events) };
  if (opts.output !== undefined) {
    if (!TEXT_FORMATS.includes(opts.output as TextFormat)) throw new RangeError("output must be 'ndjson' or 'conn'");
    if (opts.output === 'conn') {
      for (const name of CONN_LOG_EVENTS) {
        if (!config.events.includes(EVENT_KINDS[name].id)) throw new RangeError(`output: 'conn' needs the event ${name}`);
      }
    }
    config.output = opts.output as TextFormat;
  }
  if (hasFile) {
    config.file = checkString('file', source.file);
    for (const live of ['snaplen', 'promiscuous', 'bufferSize', 'immediate']) {
      if (source[live] !== undefined) throw new TypeError(`${live} applies to interface capture only`);
    }
  } else {
    config.interface = checkString('interface', source.interface);
    if (source.snaplen !== undefined) config.snaplen = checkNumber('snaplen', source.snaplen, 64, 262144, true);
    if (source.promiscuous !== undefined) config.promiscuous = checkBool('promiscuous', source.promiscuous);
    if (source.bufferSize !== undefined) config.bufferSize = checkNumber('bufferSize', source.bufferSize, 65536, 2 ** 31 - 1, true);
    if (source.immediate !== undefined) config.immediate = checkBool('immediate', source.immediate);
  }
  if (source.filter !== undefined) {
    if (typeof source.filter !== 'string') throw new TypeError('filter must be a string');
    config.filter = source.filter;
  }

  for (const t of TUNABLES) {
    const v = opts[t.option];
    if (v === undefined) continue;
    switch (t.kind) {
      case 'interval':
        config[t.zeek] = checkNumber(t.option, v, 0, 1e9, false);
        break;
      case 'count':
        config[t.zeek] = checkNumber(t.option, v, 0, t.max ?? Number.MAX_SAFE_INTEGER, true);
        break;
      case 'bool':
        config[t.zeek] = checkBool(t.option, v);
        break;
      case 'ports':
        config[t.zeek] = checkPorts(t.option, v);
        break;
    }
  }
  if (opts.portInactivityTimeouts !== undefined) {
    if (!isRecord(opts.portInactivityTimeouts)) throw new TypeError('portInactivityTimeouts must be an object of port: seconds');
    config.port_inactivity_timeouts = Object.entries(opts.portInactivityTimeouts).map(([port, secs]) => [
      checkNumber('portInactivityTimeouts port', Number(port), 0, 65535, true),
      checkNumber(`portInactivityTimeouts[${port}]`, secs, 0, 1e9, false),
    ]);
  }
  if (opts.maxReassemblyBytes !== undefined) config.maxReassemblyBytes = checkNumber('maxReassemblyBytes', opts.maxReassemblyBytes, 0, 2 ** 48, true);
  if (opts.maxFragmentBytes !== undefined) config.maxFragmentBytes = checkNumber('maxFragmentBytes', opts.maxFragmentBytes, 0, 2 ** 48, true);
  config.maxConnections =
    opts.maxConnections !== undefined ? checkNumber('maxConnections', opts.maxConnections, 1, MAX_CONNECTIONS_LIMIT, true) : defaultMaxConnections();
  if (opts.batchEvents !== undefined) config.batchEvents = checkNumber('batchEvents', opts.batchEvents, 1, 1 << 20, true);
  if (opts.batchBytes !== undefined) config.batchBytes = checkNumber('batchBytes', opts.batchBytes, 4096, 1 << 28, true);
  if (opts.highWaterMark !== undefined) config.highWaterMark = checkNumber('highWaterMark', opts.highWaterMark, 1, 65536, true);
  if (opts.checksums !== undefined) {
    if (opts.checksums !== 'zeek' && opts.checksums !== 'auto') throw new RangeError("checksums must be 'zeek' or 'auto'");
    config.checksums = opts.checksums;
  }
  if (opts.workers !== undefined) config.workers = checkNumber('workers', opts.workers, 1, 64, true);
  if (opts.statsInterval !== undefined) config.statsInterval = checkNumber('statsInterval', opts.statsInterval, 0.001, 1e9, false);
  if (opts.signal !== undefined && !(opts.signal instanceof AbortSignal)) throw new TypeError('signal must be an AbortSignal');
  return config;
}

/**
 * A `--set NAME=VALUE` redefinition by Zeek's name, as an option entry.
 * Intervals in seconds, or with Zeek's units (`500 msec`, `30 secs`,
 * `5 min`, `1 hr`, `1 day`); counts as numbers; booleans T/F (or
 * true/false); port sets as `80,8080`, `80/tcp, 443/tcp` or
 * `{80/tcp, 443/tcp}`.
 */
export function parseZeekSetting(setting: string): [keyof TunableOptions, number | boolean | number[]] {
  const eq = setting.indexOf('=');
  if (eq <= 0) throw new TypeError(`--set expects NAME=VALUE, got '${setting}'`);
  const name = setting.slice(0, eq).trim();
  const value = setting.slice(eq + 1).trim();
  const t = TUNABLES.find((x) => x.zeek === name);
  if (!t) throw new RangeError(`unknown tunable '${name}' (known: ${TUNABLES.map((x) => x.zeek).join(', ')})`);
  switch (t.kind) {
    case 'bool':
      if (/^(t|true|1)$/i.test(value)) return [t.option, true];
      if (/^(f|false|0)$/i.test(value)) return [t.option, false];
      throw new TypeError(`${name} takes T or F, got '${value}'`);
    case 'ports': {
      const list = value.replace(/^\{|\}$/g, '').split(',').map((p) => p.trim()).filter(Boolean);
      return [
        t.option,
        list.map((p) => {
          const n = Number(p.replace(/\/tcp$/i, ''));
          if (!Number.isInteger(n)) throw new TypeError(`${name} takes TCP ports, got '${p}'`);
          return n;
        }),
      ];
    }
    case 'count': {
      const n = Number(value);
      if (!Number.isFinite(n)) throw new TypeError(`${name} takes a number, got '${value}'`);
      return [t.option, n];
    }
    case 'interval':
      return [t.option, parseInterval(name, value)];
  }
}

const UNITS: Record<string, number> = {
  usec: 1e-6, usecs: 1e-6, msec: 1e-3, msecs: 1e-3, sec: 1, secs: 1, s: 1,
  min: 60, mins: 60, hr: 3600, hrs: 3600, day: 86400, days: 86400,
};

function parseInterval(name: string, value: string): number {
  const m = /^(-?[0-9]*\.?[0-9]+(?:e[-+]?[0-9]+)?)\s*([a-z]*)$/i.exec(value);
  const unit = m ? (m[2] === '' ? 1 : UNITS[m[2].toLowerCase()]) : undefined;
  if (!m || unit === undefined) throw new TypeError(`${name} takes an interval (seconds, or e.g. '30 secs'), got '${value}'`);
  return Number(m[1]) * unit;
}
