/**
 * The command line of `tcpsensor`: one table of flags, from which parsing
 * (node:util's parseArgs), `--help` and the "did you mean" of an unknown
 * flag are all derived, so that they never disagree.
 */
import { parseArgs } from 'node:util';
import { CONN_LOG_EVENTS } from './conn-log';
import type { EventName } from './events';
import type { NatsSinkOptions } from './nats-sink';
import { MAX_CONNECTIONS_LIMIT, parseZeekSetting, SensorOptions, Source } from './options';

export class UsageError extends Error {}

type Group = 'input' | 'selection' | 'output' | 'tuning' | 'live' | 'general';

const GROUP_TITLES: Record<Group, string> = {
  input: 'Input (exactly one of -r and -i)',
  selection: 'What to report',
  output: 'Output',
  tuning: 'Analysis',
  live: 'Live capture',
  general: 'General',
};

interface Flag {
  long: string;
  short?: string;
  /** The value's placeholder; absent for a switch. */
  value?: string;
  multiple?: boolean;
  group: Group;
  help: string;
  /** The default as --help shows it. */
  default?: string;
}

export const FLAGS: readonly Flag[] = [
  { long: 'read', short: 'r', value: 'FILE', group: 'input', help: 'read a pcap or pcapng file ("-" for standard input)' },
  { long: 'interface', short: 'i', value: 'IFACE', group: 'input', help: 'capture live on a network interface' },
  { long: 'filter', short: 'f', value: 'BPF', group: 'input', help: 'BPF filter expression, as tcpdump takes it' },

  { long: 'events', value: 'all|NAME,...', group: 'selection', help: "events to report; 'all' is every event of the contract", default: 'all but tcp_packet, tcp_option(s), connection_SYN_packet' },
  { long: 'contents', value: 'all|orig:PORTS|resp:PORTS', multiple: true, group: 'selection', help: 'raise tcp_contents for both sides, or one side of these server ports', default: 'none' },

  { long: 'format', value: 'ndjson|conn', group: 'output', help: 'NDJSON events, or Zeek conn.log rows (JSON)', default: 'ndjson' },
  { long: 'metrics-port', value: 'PORT', group: 'output', help: 'serve the counters in Prometheus text format at http://0.0.0.0:PORT/metrics (0: any free port, named on stderr)' },
  { long: 'stats-interval', value: 'SECONDS', group: 'output', help: "write a 'stats' record (packets, drops, loss, connections, events, memory) every SECONDS of network time", default: 'off' },
  { long: 'output', value: 'nats://HOST:PORT,...', group: 'output', help: 'publish to a NATS JetStream stream instead of stdout, one message per line on PREFIX.SENSOR.EVENT', default: 'stdout' },
  { long: 'stream', value: 'NAME', group: 'output', help: 'the JetStream stream; created (file storage, subjects PREFIX.>) when missing', default: 'TCPSENSOR' },
  { long: 'subject-prefix', value: 'P', group: 'output', help: 'first token(s) of the subjects', default: 'tcpsensor' },
  { long: 'sensor-name', value: 'N', group: 'output', help: "this sensor's subject token and message-id prefix", default: 'the host name' },
  { long: 'nats-window', value: 'N', group: 'output', help: 'most messages unacknowledged at once; live, what finds it full is dropped and counted', default: '4096' },
  { long: 'stream-max-age', value: 'SECONDS', group: 'output', help: 'a stream created here keeps messages this long', default: 'no limit' },
  { long: 'stream-max-bytes', value: 'BYTES', group: 'output', help: 'a stream created here keeps this many bytes, dropping the oldest', default: 'no limit' },
  { long: 'stream-duplicate-window', value: 'SECONDS', group: 'output', help: 'a stream created here removes resent messages within this window', default: '120' },

  { long: 'ignore-checksums', short: 'C', group: 'tuning', help: "analyse packets with bad checksums (Zeek's -C)" },
  { long: 'checksums', value: 'zeek|auto', group: 'tuning', help: "zeek: verify, warn once if more than 5% are bad (offload); auto: stop verifying when the first packets show offload", default: 'zeek' },
  { long: 'workers', short: 'w', value: 'N', group: 'tuning', help: 'engines analysing the capture, each on its own thread (live: a PACKET_FANOUT group)', default: '1' },
  { long: 'max-connections', value: 'N', group: 'tuning', help: 'TCP connections held at once; past it the one least worth keeping is evicted (half-open, idle first)', default: 'an eighth of memory at 1 KiB each' },
  { long: 'set', value: 'NAME=VALUE', multiple: true, group: 'tuning', help: "redefine one of Zeek's tunables by its Zeek name (tcp_inactivity_timeout=30, ...)" },

  { long: 'snaplen', short: 's', value: 'BYTES', group: 'live', help: 'bytes captured per packet', default: '262144' },
  { long: 'buffer-size', short: 'B', value: 'KIB', group: 'live', help: 'kernel capture buffer in KiB', default: '65536 (64 MiB)' },
  { long: 'no-promiscuous-mode', short: 'p', group: 'live', help: 'do not put the interface into promiscuous mode' },
  { long: 'immediate-mode', group: 'live', help: 'deliver each packet as it arrives (lower latency, more wake-ups, more drops under load)' },

  { long: 'help', short: 'h', group: 'general', help: 'print this help and exit' },
  { long: 'version', short: 'V', group: 'general', help: "print tcpsensor's, libpcap's and Node.js's versions and exit" },
];

export interface Args {
  source: Source;
  options: SensorOptions;
  format: 'ndjson' | 'conn';
  statsInterval?: number;
  metricsPort?: number;
  /** Set by --output nats://...: the lines go there instead of stdout. */
  nats?: NatsSinkOptions;
}

export type Parsed = Args | { help: true } | { version: true };

export function helpText(): string {
  const lines = [
    'usage: tcpsensor -r FILE [options]',
    '       tcpsensor -i IFACE [options]',
    '',
    "Zeek's TCP events from a capture file or a live interface, one JSON object a line on stdout",
    '(or one message each in a NATS JetStream stream, with --output).',
  ];
  const label = (f: Flag) => `${f.short ? `-${f.short}, ` : '    '}--${f.long}${f.value ? ` ${f.value}` : ''}`;
  const width = Math.max(...FLAGS.map((f) => label(f).length)) + 2;
  for (const group of Object.keys(GROUP_TITLES) as Group[]) {
    lines.push('', `${GROUP_TITLES[group]}:`);
    for (const f of FLAGS.filter((x) => x.group === group)) {
      const more = [f.multiple ? 'repeatable' : '', f.default ? `default: ${f.default}` : ''].filter(Boolean).join('; ');
      lines.push(`  ${label(f).padEnd(width)}${f.help}${more ? ` (${more})` : ''}`);
    }
  }
  lines.push('', 'Exit status: 0 on success (also after SIGINT/SIGTERM), 1 on a capture error, 2 on bad usage.');
  return lines.join('\n') + '\n';
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length];
}

/** The known flag closest to `given` (as typed, dashes included), if any is close. */
export function nearestFlag(given: string): string | undefined {
  const bare = given.replace(/^-+/, '').split('=')[0];
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const f of FLAGS) {
    for (const name of [f.long, f.short]) {
      if (!name) continue;
      const d = editDistance(bare, name);
      if (d < bestDistance) {
        bestDistance = d;
        best = name.length === 1 ? `-${name}` : `--${name}`;
      }
    }
  }
  // Farther than a third of the word is a different word.
  return bestDistance <= Math.max(1, Math.floor(bare.length / 3)) ? best : undefined;
}

function positiveNumber(flag: string, v: string, integer: boolean, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n <= 0 || n > max || (integer && !Number.isInteger(n))) {
    throw new UsageError(`--${flag} takes ${integer ? 'a whole number' : 'a number'} above 0${max < Number.MAX_SAFE_INTEGER ? ` up to ${max}` : ''}, got '${v}'`);
  }
  return n;
}

export function parseCommandLine(argv: string[]): Parsed {
  const spec: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const f of FLAGS) {
    spec[f.long] = { type: f.value ? 'string' : 'boolean' };
    if (f.short) spec[f.long].short = f.short;
    if (f.multiple) spec[f.long].multiple = true;
  }
  let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  try {
    ({ values } = parseArgs({ args: argv, options: spec, strict: true, allowPositionals: false }));
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { message: string };
    if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const given = /'([^']+)'/.exec(e.message)?.[1] ?? '';
      const near = nearestFlag(given);
      throw new UsageError(`unknown flag '${given}'${near ? `; did you mean ${near}?` : ''}`);
    }
    if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      const f = FLAGS.find((x) => e.message.includes(`--${x.long}`));
      throw new UsageError(f ? `${f.short ? `-${f.short}/` : ''}--${f.long} needs a value (${f.value})` : e.message.split('\n')[0]);
    }
    if (e.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      throw new UsageError(`unexpected argument ${/'([^']+)'/.exec(e.message)?.[0] ?? ''}`.trim());
    }
    throw new UsageError(e.message.split('\n')[0]);
  }
  if (values.help) return { help: true };
  if (values.version) return { version: true };

  const str = (k: string) => values[k] as string | undefined;
  const list = (k: string) => (values[k] as string[] | undefined) ?? [];
  const file = str('read');
  const iface = str('interface');
  if ((file === undefined) === (iface === undefined)) throw new UsageError('give exactly one of -r FILE and -i IFACE');

  const options: SensorOptions = {};
  const settable = options as Record<string, unknown>;
  for (const setting of list('set')) {
    const [name, v] = parseZeekSetting(setting);
    settable[name] = v;
  }
  if (values['ignore-checksums']) options.ignoreChecksums = true;
  const checksums = str('checksums');
  if (checksums !== undefined) {
    if (checksums !== 'zeek' && checksums !== 'auto') throw new UsageError(`--checksums takes zeek or auto, got '${checksums}'`);
    options.checksums = checksums;
  }

  const events = str('events');
  if (events !== undefined) options.events = events === 'all' ? 'all' : (events.split(',').filter(Boolean) as EventName[]);

  const ports = (spec_: string): number[] =>
    spec_.split(',').map((p) => {
      const n = Number(p);
      if (p.trim() === '' || !Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`--contents: bad port '${p}'`);
      return n;
    });
  const portsOrig = new Set<number>();
  const portsResp = new Set<number>();
  for (const v of list('contents')) {
    if (v === 'all') {
      options.contentDeliverAllOrig = true;
      options.contentDeliverAllResp = true;
    } else if (v.startsWith('orig:')) {
      for (const p of ports(v.slice(5))) portsOrig.add(p);
    } else if (v.startsWith('resp:')) {
      for (const p of ports(v.slice(5))) portsResp.add(p);
    } else {
      throw new UsageError(`--contents takes all, orig:PORTS or resp:PORTS, got '${v}'`);
    }
  }
  if (portsOrig.size) options.contentDeliveryPortsOrig = [...portsOrig];
  if (portsResp.size) options.contentDeliveryPortsResp = [...portsResp];

  const format = str('format') ?? 'ndjson';
  if (format !== 'ndjson' && format !== 'conn') throw new UsageError(`--format takes ndjson or conn, got '${format}'`);
  // conn.log rows come from what Zeek's conn scripts use.
  if (format === 'conn') options.events = [...CONN_LOG_EVENTS];

  const args: Args = { source: file !== undefined ? { file } : { interface: iface as string }, options, format };
  const filter = str('filter');
  if (filter !== undefined) args.source.filter = filter;
  const workers = str('workers');
  if (workers !== undefined) options.workers = positiveNumber('workers', workers, true, 64);
  const maxConnections = str('max-connections');
  if (maxConnections !== undefined) options.maxConnections = positiveNumber('max-connections', maxConnections, true, MAX_CONNECTIONS_LIMIT);
  const statsInterval = str('stats-interval');
  if (statsInterval !== undefined) args.statsInterval = positiveNumber('stats-interval', statsInterval, false);

  const metrics = str('metrics-port');
  if (metrics !== undefined) args.metricsPort = metrics === '0' ? 0 : positiveNumber('metrics-port', metrics, true, 65535);

  const natsOnly = ['stream', 'subject-prefix', 'sensor-name', 'nats-window', 'stream-max-age', 'stream-max-bytes', 'stream-duplicate-window'].filter((k) => values[k] !== undefined);
  const output = str('output');
  if (output === undefined && natsOnly.length > 0) throw new UsageError(`--${natsOnly[0]} applies to --output nats://... only`);
  if (output !== undefined) {
    const servers = output.split(',');
    const bad = servers.find((u) => !/^nats:\/\/[^\s/]+$/.test(u));
    if (bad !== undefined) throw new UsageError(`--output takes nats://HOST:PORT (several separated by commas), got '${bad}'`);
    const nats: NatsSinkOptions = { servers };
    const number = (flag: string, integer: boolean) => {
      const v = str(flag);
      return v === undefined ? undefined : positiveNumber(flag, v, integer);
    };
    nats.stream = str('stream');
    nats.subjectPrefix = str('subject-prefix');
    nats.sensorName = str('sensor-name');
    nats.window = number('nats-window', true);
    nats.maxAge = number('stream-max-age', false);
    nats.maxBytes = number('stream-max-bytes', true);
    nats.duplicateWindow = number('stream-duplicate-window', false);
    args.nats = nats;
  }

  const liveOnly = ['snaplen', 'buffer-size', 'no-promiscuous-mode', 'immediate-mode'].filter((k) => values[k] !== undefined);
  if (file !== undefined && liveOnly.length > 0) throw new UsageError(`--${liveOnly[0]} applies to live capture (-i) only`);
  if (iface !== undefined) {
    const live = args.source as Extract<Source, { interface: string }>;
    const snaplen = str('snaplen');
    if (snaplen !== undefined) live.snaplen = positiveNumber('snaplen', snaplen, true, 262144);
    const buffer = str('buffer-size');
    if (buffer !== undefined) live.bufferSize = positiveNumber('buffer-size', buffer, true, 2 ** 21 - 1) * 1024;
    if (values['no-promiscuous-mode']) live.promiscuous = false;
    if (values['immediate-mode']) live.immediate = true;
  }
  return args;
}
