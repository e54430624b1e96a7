#!/usr/bin/env node
/**
 * Events published into a JetStream stream, all acknowledged: one
 * measurement in its own process, run by bench/run.mjs against a
 * nats-server it started (file storage, loopback):
 *
 *   node bench/nats-publish.mjs '{"url":"nats://127.0.0.1:4222","file":"bulk.pcap",
 *                                 "mode":"sensor","window":4096,"profile":false}'
 *
 * Modes:
 * - sensor: open({ file }) with the default events, piped into natsSink();
 *   timed from open() to the last acknowledgement (what a user gets).
 * - prerendered: the same lines rendered first (untimed), then written to
 *   natsSink(): the sink, the client and the broker without the capture and
 *   the JSON rendering.
 * - jetstream: the same pre-rendered lines through the official
 *   `jetstream(nc).publish()` (one request per message, `window` at once,
 *   same ids and subjects): what our publish path replaces.
 *
 * Prints one JSON line: messages, seconds, eventsPerSecond, CPU seconds of
 * this process (user + system) and of its main thread (where the client,
 * the rendering and the sink run), and with `profile` the main thread's
 * samples split into client / rendering / sink / sensor / GC.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { connect, headers } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { natsSink, open, renderEvents } from '../dist/index.mjs';

const spec = JSON.parse(process.argv[2]);
const window = spec.window ?? 4096;
const sinkOptions = { servers: spec.url, stream: 'BENCH', sensorName: `bench${process.pid}`, window };

// CPU seconds of the main thread (tid = pid) and of the whole process.
function threadSeconds() {
  let main = 0;
  let all = 0;
  for (const tid of readdirSync('/proc/self/task')) {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const s = (Number(f[11]) + Number(f[12])) / 100; // utime + stime, in clock ticks
    all += s;
    if (Number(tid) === process.pid) main = s;
  }
  return { main, all };
}

async function prerender(file) {
  const batches = [];
  for await (const events of open({ file }).batches()) {
    const b = renderEvents(events, 'ndjson');
    if (b.ends.length > 0) batches.push(b);
  }
  return batches;
}

// Where the main thread's samples went: each sample goes to the nearest
// frame (from the leaf up) that belongs to a known part.
function split(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const part = (n) => {
    const { url, functionName } = n.callFrame;
    if (functionName === '(garbage collector)') return 'GC';
    if (functionName === '(idle)') return 'idle';
    if (url.includes('@nats-io')) return 'NATS client';
    if (url.includes('nats-sink')) return 'sink';
    if (url.includes('/text.') || url.includes('conn-log')) return 'rendering';
    if (url.includes('/dist/') || url.includes('/bench/')) return 'sensor';
    return null;
  };
  const total = {};
  let all = 0;
  profile.samples.forEach((id, i) => {
    let n = byId.get(id);
    let p = null;
    while (n && !(p = part(n))) n = byId.get(parent.get(n.id));
    p ??= 'other';
    total[p] = (total[p] ?? 0) + profile.timeDeltas[i];
    all += profile.timeDeltas[i];
  });
  return Object.fromEntries(Object.entries(total).sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, v / all]));
}

async function viaJetStream(batches) {
  const nc = await connect({ servers: spec.url, noAsyncTraces: true });
  const js = jetstream(nc);
  const subjectBase = `tcpsensor.${sinkOptions.sensorName}.`;
  let seq = 0;
  let inFlight = 0;
  let wake = null;
  for (const b of batches) {
    let start = 0;
    for (let i = 0; i < b.ends.length; i++) {
      while (inFlight >= window) await new Promise((resolve) => (wake = resolve));
      const h = headers();
      h.set('Nats-Expected-Stream', 'BENCH');
      inFlight++;
      js.publish(subjectBase + b.names[i], b.text.subarray(start, b.ends[i] - 1), { msgID: `${sinkOptions.sensorName}:js:${++seq}`, headers: h, timeout: 30_000 }).then(
        () => {
          inFlight--;
          wake?.();
          wake = null;
        },
        (err) => {
          console.error(err);
          process.exit(1);
        },
      );
      start = b.ends[i];
    }
  }
  while (inFlight > 0) await new Promise((resolve) => (wake = resolve));
  await nc.close();
  return { messages: seq, acknowledged: seq };
}

let session;
if (spec.profile) {
  session = new Session();
  session.connect();
}

const batches = spec.mode === 'sensor' ? null : await prerender(spec.file);
// The stream exists (and the connection is up) before the clock starts.
const sink = spec.mode === 'jetstream' ? null : await natsSink(sinkOptions);
if (spec.mode === 'jetstream') await (await natsSink(sinkOptions)).end();

if (session) {
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
}
const cpu0 = threadSeconds();
const t0 = performance.now();
let stats;
if (spec.mode === 'sensor') {
  stats = await open({ file: spec.file }).pipeTo(sink);
} else if (spec.mode === 'prerendered') {
  for (const b of batches) await sink.write(b);
  stats = await sink.end();
} else {
  stats = await viaJetStream(batches);
}
const seconds = (performance.now() - t0) / 1000;
const cpu1 = threadSeconds();
const profile = session ? split((await session.post('Profiler.stop')).profile) : undefined;

process.stdout.write(
  JSON.stringify({
    mode: spec.mode,
    window,
    messages: stats.messages,
    acknowledged: stats.acknowledged,
    resent: stats.resent ?? 0,
    seconds,
    eventsPerSecond: stats.messages / seconds,
    cpuSeconds: cpu1.all - cpu0.all,
    mainThreadSeconds: cpu1.main - cpu0.main,
    profile,
  }) + '\n',
);
