#!/usr/bin/env node
/**
 * tcpsensor: Zeek's TCP events from a capture file or an interface, as
 * NDJSON (one event object a line) or as conn.log rows. `tcpsensor --help`
 * lists the flags (lib/cli-args.ts).
 */
import { Args, helpText, parseCommandLine, UsageError } from './cli-args';
import { open } from './index';
import { binding } from './native';
import { natsSink, NatsSink, NatsSinkStats } from './nats-sink';
import type { Sensor, SensorStats } from './sensor';
import { serveMetrics } from './metrics';

// Bad input gets one line, and exit status 2.
function usageError(err: unknown): number {
  process.stderr.write(`tcpsensor: ${(err as Error).message} (see tcpsensor --help)\n`);
  return 2;
}

function versions(): string {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const pkg = require('../package.json') as { version: string };
  return `tcpsensor ${pkg.version}\n${binding().libpcapVersion}\nNode.js ${process.version}\n`;
}

const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;

// What a live capture lost, in tcpdump's words, on stderr at exit.
function captureSummary(s: SensorStats): string {
  return [
    `${plural(s.packetsReceived, 'packet')} captured`,
    `${plural(s.packetsReceivedByFilter, 'packet')} received by filter`,
    `${plural(s.packetsDroppedByKernel, 'packet')} dropped by kernel`,
    `${plural(s.packetsDroppedByInterface, 'packet')} dropped by interface`,
    `${plural(s.eventsDroppedByQueue, 'event')} dropped by queue (the reader fell behind)`,
  ].join('\n') + '\n';
}

// What the NATS sink gave up, by reason, for the live summary.
function natsSummary(s: NatsSinkStats): string {
  const why = [
    [s.droppedDisconnected, 'broker away'],
    [s.droppedWindowFull, 'window full'],
    [s.droppedUnacknowledged, 'unacknowledged at exit'],
    [s.droppedRejected, 'refused by the stream'],
  ].filter(([n]) => n).map(([n, what]) => `${n} ${what}`);
  return `${plural(s.dropped, 'event')} dropped by the NATS sink${why.length ? ` (${why.join(', ')})` : ''}\n`;
}

// --output nats://...: the lines go to the stream; stdout stays unused.
async function ship(sensor: Sensor, sink: NatsSink, format: Args['format'], live: boolean): Promise<number> {
  sink.on('disconnect', (server) =>
    process.stderr.write(`tcpsensor: lost the connection to NATS at ${server}; ${live ? 'dropping events until it is back' : 'waiting for it (Ctrl-C twice gives up)'}\n`),
  );
  sink.on('reconnect', (server) => process.stderr.write(`tcpsensor: reconnected to NATS at ${server}\n`));
  // The first signal stops the capture (main's handler); another one gives
  // up on what the broker has not acknowledged.
  let signals = 0;
  const giveUp = () => {
    if (++signals > 1) sink.abort(new Error(`interrupted with ${sink.stats().pending} messages unacknowledged`));
  };
  process.on('SIGINT', giveUp);
  process.on('SIGTERM', giveUp);
  let status = 0;
  try {
    await sensor.pipeTo(sink, { format });
  } catch (err) {
    process.stderr.write(`tcpsensor: ${(err as Error).message}\n`);
    status = 1;
  }
  if (live) process.stderr.write(captureSummary(sensor.stats()) + natsSummary(sink.stats()));
  return status;
}

async function main(): Promise<number> {
  let parsed: ReturnType<typeof parseCommandLine>;
  try {
    parsed = parseCommandLine(process.argv.slice(2));
  } catch (err) {
    return usageError(err);
  }
  if ('help' in parsed) {
    process.stdout.write(helpText());
    return 0;
  }
  if ('version' in parsed) {
    process.stdout.write(versions());
    return 0;
  }
  const args = parsed;

  // SIGINT / SIGTERM: take in what the kernel captured, flush open
  // connections as Zeek does at termination, write them, exit 0. Handled
  // from the start, so that a signal sent once the capture said it is up
  // always finds the handler.
  let sensor: Sensor | undefined;
  let stopRequested = false;
  const stop = () => {
    stopRequested = true;
    sensor?.stop();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);

  try {
    // The lines are rendered in C++ (lib/text.ts), off this thread.
    const options = { ...args.options, output: args.format };
    sensor = open(args.source, args.statsInterval ? { ...options, statsInterval: args.statsInterval } : options);
  } catch (err) {
    // open() checks the option values (--events, --set) before anything
    // is opened: what it refuses is bad input too.
    if (err instanceof TypeError || err instanceof RangeError || err instanceof UsageError) return usageError(err);
    process.stderr.write(`tcpsensor: ${(err as Error).message}\n`);
    return 1;
  }
  const live = 'interface' in args.source;
  // The broker is there before the capture is announced, or we stop here.
  let sink: NatsSink | undefined;
  if (args.nats) {
    try {
      sink = await natsSink(args.nats);
    } catch (err) {
      sensor.close();
      if (err instanceof TypeError || err instanceof RangeError) return usageError(err);
      process.stderr.write(`tcpsensor: ${(err as Error).message}\n`);
      return 1;
    }
  }
  if ('interface' in args.source) {
    // tcpdump's first line: the capture is up from here on.
    const info = sensor.info();
    if (info) {
      process.stderr.write(
        `tcpsensor: listening on ${args.source.interface}, link-type ${info.linktypeName} (${info.linktypeDescription}), snapshot length ${info.snaplen} bytes\n`,
      );
    }
  }
  sensor.on('warning', (w) => process.stderr.write(`tcpsensor: warning: ${w.message}\n`));

  if (args.metricsPort !== undefined) {
    try {
      const { address } = await serveMetrics(sensor, args.metricsPort);
      process.stderr.write(`tcpsensor: metrics at http://${address.address}:${address.port}/metrics\n`);
    } catch (err) {
      sensor.close();
      sink?.abort();
      process.stderr.write(`tcpsensor: cannot serve metrics on port ${args.metricsPort}: ${(err as Error).message}\n`);
      return 1;
    }
  }

  if (stopRequested) sensor.stop();

  if (sink) return ship(sensor, sink, args.format, live);

  // A reader that went away (`| head`) ends us quietly.
  let closedOutput = false;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') {
      closedOutput = true;
      sensor.close();
    }
  });

  // Stats records go into the stream where they fall: the sensor emits one
  // once every batch before it has been handed out, and so written.
  sensor.on('stats', (record) => {
    if (!closedOutput) process.stdout.write(JSON.stringify(record) + '\n');
  });

  let status = 0;
  try {
    for await (const batch of sensor.textBatches()) {
      if (closedOutput) break;
      await write(batch.text);
    }
  } catch (err) {
    if (closedOutput) return 0;
    process.stderr.write(`tcpsensor: ${(err as Error).message}\n`);
    status = 1;
  }
  if (live && !closedOutput) process.stderr.write(captureSummary(sensor.stats()));
  return status;
}

async function write(text: Buffer): Promise<void> {
  if (process.stdout.write(text)) return;
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

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`tcpsensor: ${(err as Error).stack ?? err}\n`);
    process.exitCode = 1;
  },
);
