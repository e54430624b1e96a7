// Flow control: reading a file, a slow consumer loses nothing (the capture
// thread waits for it), and a fast one does not starve the event loop
// (the iterator yields between batches). Timing-sensitive, so serial.
import test from 'ava';
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { bigTrace } from './helpers/traces.mjs';
import { scratch, tcpsensor } from './helpers/run.mjs';

const { open } = tcpsensor;

const trace = bigTrace(100_000);
const file = trace.writer.write(scratch('big.pcap'));

// Per-type counts and a digest of the whole sequence (kind, uid, ts), so
// that order and identity are compared too, not only the totals.
async function summarize(sensor, { every = 0, pause } = {}) {
  const counts = {};
  const hash = createHash('sha256');
  let n = 0;
  for await (const ev of sensor) {
    counts[ev.event] = (counts[ev.event] ?? 0) + 1;
    hash.update(`${ev.event} ${ev.uid} ${ev.ts}\n`);
    if (every && ++n % every === 0) await pause();
  }
  return { counts, digest: hash.digest('hex'), stats: sensor.stats() };
}

test.serial('a deliberately slow consumer of a 100,000-packet file loses nothing', async (t) => {
  t.true(trace.packets >= 100_000);
  const fast = await summarize(open({ file }));
  // The trace's own arithmetic: 8 packets per connection.
  t.is(fast.stats.packetsReceived, trace.packets);
  t.is(fast.counts.new_connection, trace.connections.length);
  t.is(fast.counts.connection_state_remove, trace.connections.length);

  // Batches of 8 events, one queued at a time, and a timer every 500
  // events: the capture thread is always far ahead and must wait.
  let pauses = 0;
  const slow = await summarize(open({ file }, { batchEvents: 8, highWaterMark: 1 }), {
    every: 500,
    pause: () => {
      pauses++;
      return sleep(1);
    },
  });
  t.true(pauses > 100);
  t.deepEqual(slow.counts, fast.counts);
  t.is(slow.digest, fast.digest);
  t.is(slow.stats.packetsReceived, trace.packets);
  t.is(slow.stats.eventsDroppedByQueue, 0);
  t.is(slow.stats.batchesDroppedByQueue, 0);
});

test.serial('a long read does not starve timers: a 10 ms interval keeps firing', async (t) => {
  let ticks = 0;
  let last = performance.now();
  let longestGap = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    longestGap = Math.max(longestGap, now - last);
    last = now;
    ticks++;
  }, 10);
  t.teardown(() => clearInterval(timer));

  // Every event, and some work per event as a real consumer would do.
  const start = performance.now();
  let bytes = 0;
  for await (const ev of open({ file }, { events: 'all' })) bytes += JSON.stringify(ev).length;
  const elapsed = performance.now() - start;
  clearInterval(timer);
  longestGap = Math.max(longestGap, performance.now() - last);

  t.log(`read took ${elapsed.toFixed(0)} ms; ${ticks} ticks; longest gap ${longestGap.toFixed(1)} ms`);
  t.true(bytes > 0);
  // Responsiveness, not speed: generous bounds.
  t.true(longestGap < 250, `longest gap between ticks: ${longestGap.toFixed(1)} ms`);
  t.true(ticks >= Math.floor(elapsed / 10 / 4), `${ticks} ticks in ${elapsed.toFixed(0)} ms`);
});
