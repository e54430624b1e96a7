#!/usr/bin/env node
/**
 * tcpsensor: Zeek's TCP events from a capture file or an interface, as
 * NDJSON (one event object a line) or as conn.log rows.
 *
 *   tcpsensor -r FILE [-C] [-f BPF] [--events all|name,...] [--contents all|orig:PORTS|resp:PORTS]...
 *             [--set NAME=VALUE]... [--format ndjson|conn]
 *   tcpsensor -i IFACE [same options]
 */
import { ConnLog, CONN_LOG_EVENTS } from './conn-log';
import { ArgShape, EVENT_KINDS, EventName, TcpEvent } from './events';
import { open } from './index';
import { parseZeekSetting, SensorOptions, Source } from './options';
import type { Sensor } from './sensor';

const USAGE = `usage: tcpsensor (-r FILE|- | -i IFACE) [-C] [-f BPF] [--events all|NAME,...]
                 [--contents all|orig:PORTS|resp:PORTS]... [--set NAME=VALUE]... [--format ndjson|conn]`;

class UsageError extends Error {}

interface Args {
  source: Source;
  options: SensorOptions;
  format: 'ndjson' | 'conn';
}

function parseArgs(argv: string[]): Args {
  let file: string | undefined;
  let iface: string | undefined;
  let filter: string | undefined;
  let format: 'ndjson' | 'conn' = 'ndjson';
  const options: SensorOptions = {};
  const settable = options as Record<string, unknown>;
  const portsOrig = new Set<number>();
  const portsResp = new Set<number>();
  const value = (i: number, flag: string): string => {
    if (i >= argv.length) throw new UsageError(`${flag} needs a value`);
    return argv[i];
  };
  const ports = (list: string, flag: string): number[] =>
    list.split(',').map((p) => {
      const n = Number(p);
      if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`${flag}: bad port '${p}'`);
      return n;
    });

  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    switch (a) {
      case '-r':
        file = value(++i, a);
        break;
      case '-i':
        iface = value(++i, a);
        break;
      case '-f':
        filter = value(++i, a);
        break;
      case '-C':
        options.ignoreChecksums = true;
        break;
      case '--events': {
        const v = value(++i, a);
        options.events = v === 'all' ? 'all' : (v.split(',').filter(Boolean) as EventName[]);
        break;
      }
      case '--contents': {
        const v = value(++i, a);
        if (v === 'all') {
          options.contentDeliverAllOrig = true;
          options.contentDeliverAllResp = true;
        } else if (v.startsWith('orig:')) {
          for (const p of ports(v.slice(5), a)) portsOrig.add(p);
        } else if (v.startsWith('resp:')) {
          for (const p of ports(v.slice(5), a)) portsResp.add(p);
        } else {
          throw new UsageError(`--contents takes all, orig:PORTS or resp:PORTS, got '${v}'`);
        }
        break;
      }
      case '--set': {
        const [name, v] = parseZeekSetting(value(++i, a));
        settable[name] = v;
        break;
      }
      case '--format': {
        const v = value(++i, a);
        if (v !== 'ndjson' && v !== 'conn') throw new UsageError(`--format takes ndjson or conn, got '${v}'`);
        format = v;
        break;
      }
      case '-h':
      case '--help':
        process.stdout.write(USAGE + '\n');
        process.exit(0);
        break;
      default:
        throw new UsageError(`unknown argument '${a}'`);
    }
  }
  if ((file === undefined) === (iface === undefined)) throw new UsageError('give exactly one of -r FILE and -i IFACE');
  if (portsOrig.size) options.contentDeliveryPortsOrig = [...portsOrig];
  if (portsResp.size) options.contentDeliveryPortsResp = [...portsResp];
  if (format === 'conn') {
    // conn.log rows come from what Zeek's conn scripts use.
    options.events = [...CONN_LOG_EVENTS];
  }
  const source: Source = file !== undefined ? { file } : { interface: iface as string };
  if (filter !== undefined) source.filter = filter;
  return { source, options, format };
}

// Byte arguments as base64; everything else as JSON.stringify writes it.
// A replacer makes stringify several times slower, so only events whose
// shape carries bytes go through one.
const SHAPES_WITH_BYTES = new Set([ArgShape.Contents, ArgShape.Options, ArgShape.Packet, ArgShape.Inconsistency]);

function base64Bytes(this: Record<string, unknown>, key: string, v: unknown): unknown {
  const original = this[key];
  return Buffer.isBuffer(original) ? original.toString('base64') : v;
}

function toJson(ev: TcpEvent): string {
  return SHAPES_WITH_BYTES.has(EVENT_KINDS[ev.event].shape) ? JSON.stringify(ev, base64Bytes) : JSON.stringify(ev);
}

// Bad input gets one line, and exit status 2.
function usageError(err: unknown): number {
  process.stderr.write(`tcpsensor: ${(err as Error).message} (see tcpsensor --help)\n`);
  return 2;
}

async function main(): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    return usageError(err);
  }

  let sensor: Sensor;
  try {
    sensor = open(args.source, args.options);
  } catch (err) {
    // open() checks the option values (--events, --set) before anything
    // is opened: what it refuses is bad input too.
    if (err instanceof TypeError || err instanceof RangeError) return usageError(err);
    process.stderr.write(`tcpsensor: ${(err as Error).message}\n`);
    return 1;
  }

  // SIGINT / SIGTERM: stop capturing, flush open connections as Zeek does
  // at termination, write them, exit 0.
  const stop = () => sensor.stop();
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);

  // A reader that went away (`| head`) ends us quietly.
  let closedOutput = false;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') {
      closedOutput = true;
      sensor.close();
    }
  });

  const connLog = args.format === 'conn' ? new ConnLog() : undefined;
  try {
    for await (const batch of sensor.batches()) {
      let text = '';
      for (const ev of batch) {
        if (connLog) {
          const row = connLog.add(ev);
          if (row) text += JSON.stringify(row) + '\n';
        } else {
          text += toJson(ev) + '\n';
        }
      }
      if (closedOutput) break;
      if (text && !process.stdout.write(text)) {
        await new Promise<void>((resolve) => {
          const done = () => {
            process.stdout.off('drain', done);
            process.stdout.off('close', done);
            resolve();
          };
          process.stdout.on('drain', done);
          process.stdout.on('close', done);
        });
      }
    }
  } catch (err) {
    if (closedOutput) return 0;
    process.stderr.write(`tcpsensor: ${(err as Error).message}\n`);
    return 1;
  }
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`tcpsensor: ${(err as Error).stack ?? err}\n`);
    process.exitCode = 1;
  },
);
