#!/usr/bin/env node
/**
 * One live capture through the public API, as a sensor application runs
 * it, for bench/live.mjs: opens the interface, counts events in a
 * `for await` loop, samples each packet-made event's latency (wall clock
 * at delivery minus the packet's kernel timestamp), prints "ready" once the
 * capture is up, and on SIGINT stops (taking in what the kernel captured),
 * then prints one JSON line of measurements.
 *
 *   node bench/live-capture.mjs '{"interface":"veth0","options":{"events":"all"},"source":{}}'
 */
import { open } from '../dist/index.mjs';

const spec = JSON.parse(process.argv[2]);
const sensor = open({ interface: spec.interface, ...(spec.source ?? {}) }, spec.options ?? {});
let warning = null;
sensor.on('warning', (w) => (warning = w.code));
process.on('SIGINT', () => sensor.stop());
process.on('SIGTERM', () => sensor.stop());

// Latency samples: events raised by a packet carry that packet's kernel
// timestamp; timer events (network time moved on by the wall clock) are
// left out.
const PACKET_MADE = new Set(['new_connection', 'connection_established', 'connection_finished', 'tcp_packet', 'tcp_contents']);
const latencies = [];
let events = 0;
let sampleEvery = 1;
let firstAt = 0;
let lastAt = 0;
process.stdout.write('ready\n');
for await (const ev of sensor) {
  events++;
  if (events % sampleEvery === 0 && PACKET_MADE.has(ev.event)) {
    const now = Date.now() / 1000;
    latencies.push(now - ev.ts);
    if (latencies.length >= 200000) {
      // Keep every other sample: the distribution, in bounded memory.
      for (let i = 0; i < latencies.length / 2; i++) latencies[i] = latencies[2 * i];
      latencies.length = Math.floor(latencies.length / 2);
      sampleEvery *= 2;
    }
  }
  lastAt = performance.now();
  if (!firstAt) firstAt = lastAt;
}
latencies.sort((a, b) => a - b);
const pct = (p) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] * 1000 : null);
const s = sensor.stats();
process.stdout.write(
  JSON.stringify({
    packetsReceived: s.packetsReceived,
    packetsReceivedByFilter: s.packetsReceivedByFilter,
    packetsDroppedByKernel: s.packetsDroppedByKernel,
    packetsDroppedByInterface: s.packetsDroppedByInterface,
    eventsDroppedByQueue: s.eventsDroppedByQueue,
    queuedBytesPeak: s.queuedBytesPeak,
    events,
    latencyMs: { p50: pct(0.5), p99: pct(0.99), max: pct(1), samples: latencies.length },
    workers: s.workers?.map((w) => ({ captured: w.packetsReceived, kernelDrops: w.packetsDroppedByKernel })),
    warning,
  }) + '\n',
);
