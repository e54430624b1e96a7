// Flow control: reading a file, a slow consumer loses nothing (the capture
// thread waits for it), and a fast one does not starve the event loop
// (the iterator yields between batches). Timing-sensitive, so serial.
import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { bigTrace, manyConnections } from './helpers/traces.mjs';
import { scratch, tcpsensor } from './helpers/run.mjs';

const { open } = tcpsensor;

// 12,500 connections over a minute of network time, about 16 open at
// once; each is removed 5 s (tcp_close_delay) after its close, so the
// removals are spread over the read.
const trace = bigTrace(100_000, { spacing: 0.005, step: 0.01 });
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

test.serial('a file read through a FIFO yields exactly what the file yields', async (t) => {
  // A FIFO cannot be opened twice; the whole stream must reach one reader.
  // Its writer is another process, as in `tcpdump -w fifo`: opening a FIFO
  // waits for the writer.
  const fifo = scratch('big.fifo');
  rmSync(fifo, { force: true });
  execFileSync('mkfifo', [fifo]);
  const writer = spawn('sh', ['-c', 'exec cat "$0" > "$1"', file, fifo], { stdio: 'ignore' });
  const written = new Promise((resolve) => writer.on('exit', resolve));
  const viaFifo = await summarize(open({ file: fifo }));
  t.is(await written, 0);
  const direct = await summarize(open({ file }));
  t.is(viaFifo.stats.packetsReceived, trace.packets);
  t.deepEqual(viaFifo.counts, direct.counts);
  t.is(viaFifo.digest, direct.digest);
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

  // Every event, serialized as the CLI does: a consumer with some work
  // per event, which makes the read last (about a second here). Within a
  // batch nothing else can run, so the batches are kept to 1,024 events:
  // the gaps then measure whether the iterator yields between batches,
  // not how fast this machine serializes a batch.
  const start = performance.now();
  let bytes = 0;
  for await (const ev of open({ file }, { events: 'all', batchEvents: 1024 })) bytes += JSON.stringify(ev).length;
  const elapsed = performance.now() - start;
  clearInterval(timer);
  longestGap = Math.max(longestGap, performance.now() - last);

  t.log(`read took ${elapsed.toFixed(0)} ms; ${ticks} ticks; longest gap ${longestGap.toFixed(1)} ms`);
  t.true(bytes > 0);
  // Responsiveness, not speed: generous bounds.
  t.true(longestGap < 250, `longest gap between ticks: ${longestGap.toFixed(1)} ms`);
  t.true(ticks >= Math.floor(elapsed / 100), `${ticks} ticks in ${elapsed.toFixed(0)} ms`);
});

// Engine::finish() (end of input, and stop()) raises the events of every
// connection still in the table as one group, and the writer cuts batches
// only between groups: the last batch holds an event or more per open
// connection whatever batchEvents says, and decoding it holds the event
// loop for as long (about 200 ms for 12,500 connections on the machine
// these tests were written on). Native bug, reported.
test.serial('the end-of-input flush is cut into batches of about batchEvents', async (t) => {
  // 5,000 connections all closed within half a second: all of them wait
  // for their tcp_close_delay when the input ends.
  const dense = manyConnections({ connections: 5000 });
  const path = dense.writer.write(scratch('dense.pcap'));
  const batchEvents = 64;
  let largest = 0;
  let removals = 0;
  for await (const batch of open({ file: path }, { batchEvents }).batches()) {
    largest = Math.max(largest, batch.length);
    removals += batch.filter((e) => e.event === 'connection_state_remove').length;
  }
  t.is(removals, 5000);
  // A packet's events are not split across batches, and no packet here
  // raises more than a handful: allow one batch's worth of slack.
  t.true(largest <= 2 * batchEvents, `largest batch: ${largest} events`);
});
