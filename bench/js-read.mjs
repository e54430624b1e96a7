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
 *
 * With "verify": {"port": P}, the originator's stream of every connection
 * to port P is checked against gen-hostile's payload pattern (needs
 * tcp_contents for originators, content_gap and connection_state_remove):
 * every byte delivered once, in order, right, no gap, as many as the
 * connection's size. The result says how many connections came out
 * complete.
 */
import { open } from '../dist/index.mjs';

const spec = JSON.parse(process.argv[2]);
const options = spec.options ?? {};

/** Checks the originators' streams to one port against gen-hostile's pattern. */
function verifier({ port }) {
  const streams = new Map(); // uid -> { next, bad }
  let connections = 0;
  let complete = 0;
  const problems = [];
  const stream = (uid) => {
    let s = streams.get(uid);
    if (!s) streams.set(uid, (s = { next: 1, bad: null }));
    return s;
  };
  const bad = (s, uid, why) => {
    if (s.bad) return;
    s.bad = why;
    if (problems.length < 5) problems.push(`${uid}: ${why}`);
  };
  return {
    event(ev) {
      if (ev.id?.resp_p !== port) return;
      if (ev.event === 'tcp_contents' && ev.is_orig) {
        const s = stream(ev.uid);
        if (ev.seq !== s.next) bad(s, ev.uid, `bytes at ${ev.seq}, expected ${s.next}`);
        const c = ev.contents;
        for (let i = 0, k = ev.seq - 1; i < c.length; i++, k++) {
          if (c[i] !== ((k * 7 + (k >>> 8) * 13) & 0xff)) {
            bad(s, ev.uid, `wrong byte at ${k + 1}`);
            break;
          }
        }
        s.next = ev.seq + c.length;
      } else if (ev.event === 'content_gap' && ev.is_orig) {
        bad(stream(ev.uid), ev.uid, `gap of ${ev.length} at ${ev.seq}`);
      } else if (ev.event === 'connection_state_remove') {
        connections++;
        const s = stream(ev.uid);
        if (s.next - 1 !== ev.conn.orig.size) bad(s, ev.uid, `${s.next - 1} of ${ev.conn.orig.size} bytes`);
        if (!s.bad) complete++;
        streams.delete(ev.uid);
      }
    },
    result: () => ({ port, connections, complete, problems }),
  };
}
const verify = spec.verify ? verifier(spec.verify) : null;

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
    verify?.event(ev);
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
      reassemblyFlushes: finalStats.reassemblyFlushes,
      reassemblyMemoryExceeded: finalStats.malformed.reassembly_memory_exceeded ?? 0,
      memoryBytes: finalStats.memoryBytes,
      connectionsTotal: finalStats.connectionsTotal,
      connectionsEvicted: finalStats.connectionsEvicted,
    },
    maxRssKB: process.resourceUsage().maxRSS,
    verified: verify?.result(),
  }) + '\n',
);
