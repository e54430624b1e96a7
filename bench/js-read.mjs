#!/usr/bin/env node
/**
 * The full stack, as an application sees it: reads capture files through
 * the public API into a `for await` loop that counts events by name, and
 * prints one JSON line of measurements. Run by bench/run.mjs, one process
 * per measurement (so each has its own peak RSS):
 *
 *   node bench/js-read.mjs '{"files":[{"file":"a.pcap","ignoreChecksums":false}],
 *                            "options":{"events":"all"}}'
 *
 * Measured: wall time from open() to the end of the loop (summed over the
 * files, which are read one after another in this process), packets and
 * events delivered, the longest gap between ticks of a 10 ms setInterval
 * (event-loop responsiveness; the gap from the last tick to the end of the
 * read counts too), when it happened and how many gaps exceeded 50 ms, and
 * the largest values
 * of stats() sampled on every tick (reassemblyBytes, memoryBytes,
 * connectionsActive). `statsLive` says whether stats() moved during the
 * read at all (if not, the sampled maxima are only the final values).
 */
import { open } from '../dist/index.mjs';

const spec = JSON.parse(process.argv[2]);
const options = spec.options ?? {};

const counts = Object.create(null);
let events = 0;
let packets = 0;
let seconds = 0;
let maxGapMs = 0;
let maxGapAtS = 0;
let current = null; // the sensor being read, for the ticker's stats samples
let statsLive = false;
const peak = { reassemblyBytes: 0, memoryBytes: 0, connectionsActive: 0 };
let finalStats = null;

function sample(s) {
  if (s.packetsReceived > 0 && current) statsLive = true;
  if (s.reassemblyBytes > peak.reassemblyBytes) peak.reassemblyBytes = s.reassemblyBytes;
  if (s.memoryBytes > peak.memoryBytes) peak.memoryBytes = s.memoryBytes;
  if (s.connectionsActive > peak.connectionsActive) peak.connectionsActive = s.connectionsActive;
}

const start = performance.now();
let last = start;
let ticks = 0;
let gapsOver50 = 0;
let midGapMs = 0; // the longest gap between two ticks
let endGapMs = 0; // from the last tick to the end of the read
// A gap is measured when the next tick comes; `final` closes the last one
// (a block at the very end of the read would otherwise go unseen).
function tick(final = false) {
  const now = performance.now();
  const gap = now - last;
  if (gap > maxGapMs) {
    maxGapMs = gap;
    maxGapAtS = (now - start) / 1000;
  }
  if (gap > 50) gapsOver50++;
  if (final) endGapMs = gap;
  else if (gap > midGapMs) midGapMs = gap;
  last = now;
  if (!final) ticks++;
}
const ticker = setInterval(() => {
  tick();
  if (current && !current.closed) sample(current.stats());
}, 10);

for (const { file, ignoreChecksums } of spec.files) {
  const t0 = performance.now();
  const sensor = open({ file }, ignoreChecksums ? { ...options, ignoreChecksums: true } : options);
  current = sensor;
  for await (const ev of sensor) {
    counts[ev.event] = (counts[ev.event] ?? 0) + 1;
    events++;
  }
  current = null;
  seconds += (performance.now() - t0) / 1000;
  finalStats = sensor.stats();
  sample(finalStats);
  packets += finalStats.packetsReceived;
}
tick(true);
clearInterval(ticker);

process.stdout.write(
  JSON.stringify({
    packets,
    events,
    seconds,
    packetsPerSecond: packets / seconds,
    eventsPerSecond: events / seconds,
    counts,
    maxGapMs,
    maxGapAtS,
    midGapMs,
    endGapMs,
    gapsOver50,
    ticks,
    statsLive,
    peak,
    final: finalStats && {
      reassemblyBytes: finalStats.reassemblyBytes,
      reassemblyDroppedBytes: finalStats.reassemblyDroppedBytes,
      reassemblyMemoryExceeded: finalStats.malformed.reassembly_memory_exceeded ?? 0,
      memoryBytes: finalStats.memoryBytes,
      connectionsTotal: finalStats.connectionsTotal,
      connectionsEvicted: finalStats.connectionsEvicted,
    },
    maxRssKB: process.resourceUsage().maxRSS,
  }) + '\n',
);
