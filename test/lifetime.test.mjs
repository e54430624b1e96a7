// Lifetimes: what sensors leave behind when they are opened and closed by
// the thousand, dropped without close() and collected, left running at
// process exit, or run inside worker threads that end or are terminated.
// Each case runs in a child process of its own, so that leaked threads,
// descriptors or a crash at exit show in that process alone.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { bigTrace } from './helpers/traces.mjs';
import { vethWithServer, whyNoLiveCapture } from './helpers/netns.mjs';
import { root, scratch } from './helpers/run.mjs';

const api = join(root, 'dist', 'index.js');
const file = bigTrace(20000).writer.write(scratch('lifetime.pcap'));
const small = bigTrace(2000).writer.write(scratch('lifetime-small.pcap'));

function child(code, args = [], flags = [], trace = file) {
  const r = spawnSync(process.execPath, [...flags, '-e', code, api, trace, ...args], { encoding: 'utf8', timeout: 120000 });
  if (r.error) throw r.error;
  return r;
}

test('1,000 open/close cycles (unread, part read, read through, sharded) leave no descriptors, threads or memory behind', (t) => {
  const r = child(
    `
    const fs = require('node:fs');
    const { open } = require(process.argv[1]);
    const file = process.argv[2];
    const count = (dir) => fs.readdirSync(dir).length;
    async function cycle(i) {
      const kind = i % 4;
      const s = open({ file }, { workers: kind === 3 ? 2 : 1 });
      if (kind === 0) { s.close(); return; }
      let n = 0;
      for await (const _ of s) if (kind !== 2 && ++n === 100) break;
    }
    (async () => {
      const settle = async () => { for (let i = 0; i < 3; i++) { global.gc(); await new Promise((r) => setTimeout(r, 50)); } };
      const reading = () => ({ fds: count('/proc/self/fd'), threads: count('/proc/self/task'), rss: process.memoryUsage().rss });
      // The allocator and V8's heap grow to a working size and stay there;
      // a leak keeps growing. So: warm up, then compare two equal runs.
      for (let i = 0; i < 200; i++) await cycle(i);
      await settle();
      const before = reading();
      for (let i = 0; i < 400; i++) await cycle(i);
      await settle();
      const middle = reading();
      for (let i = 0; i < 400; i++) await cycle(i);
      await settle();
      const after = { ...reading(), grewFirst: middle.rss - before.rss };
      console.log(JSON.stringify({ before, after }));
    })();`,
    [],
    ['--expose-gc'],
    small,
  );
  t.is(r.status, 0, r.stderr);
  const { before, after } = JSON.parse(r.stdout);
  t.true(after.fds <= before.fds, `file descriptors: ${before.fds} before, ${after.fds} after`);
  t.true(after.threads <= before.threads, `threads: ${before.threads} before, ${after.threads} after`);
  // The second 400 cycles add nothing much to what the first added; a leak
  // of even a batch (1 MiB) per cycle would add 400 MiB.
  const second = after.rss - before.rss - after.grewFirst;
  t.true(second < 32 * 1024 * 1024, `RSS grew ${(after.grewFirst / 1048576).toFixed(1)} MiB, then ${(second / 1048576).toFixed(1)} MiB more`);
});

test('a sensor dropped without close() is collected: its threads stop, its descriptors close', (t) => {
  const r = child(
    `
    const fs = require('node:fs');
    const { open } = require(process.argv[1]);
    const count = (dir) => fs.readdirSync(dir).length;
    // Started, one event taken, then forgotten (its frame gone): the
    // capture threads are left waiting for room in the queue.
    async function startAndForget(workers) {
      const it = open({ file: process.argv[2] }, { workers, highWaterMark: 1, batchEvents: 16 })[Symbol.asyncIterator]();
      await it.next();
    }
    (async () => {
      const base = { fds: count('/proc/self/fd'), threads: count('/proc/self/task') };
      await startAndForget(1);
      await startAndForget(3);
      const running = count('/proc/self/task');
      for (let i = 0; i < 20 && count('/proc/self/task') > base.threads; i++) {
        global.gc();
        await new Promise((r) => setTimeout(r, 50));
      }
      console.log(JSON.stringify({ base, running, fds: count('/proc/self/fd'), threads: count('/proc/self/task') }));
    })();`,
    [],
    ['--expose-gc'],
  );
  t.is(r.status, 0, r.stderr);
  const { base, running, fds, threads } = JSON.parse(r.stdout);
  t.true(running > base.threads, 'the capture threads were running');
  t.is(threads, base.threads);
  t.is(fds, base.fds);
});

test('process.exit() with sensors mid-read (one engine and sharded) exits cleanly', (t) => {
  const r = child(`
    const { open } = require(process.argv[1]);
    (async () => {
      const a = open({ file: process.argv[2] })[Symbol.asyncIterator]();
      const b = open({ file: process.argv[2] }, { workers: 4 })[Symbol.asyncIterator]();
      await a.next();
      await b.next();
      process.exit(7);
    })();`);
  t.is(r.signal, null, r.stderr);
  t.is(r.status, 7, r.stderr);
  t.is(r.stderr, '');
});

test('sensors in worker threads: one reads to its end, one is terminated mid-read', (t) => {
  const r = child(`
    const { Worker } = require('node:worker_threads');
    const api = process.argv[1];
    const file = process.argv[2];
    const body = \`
      const { parentPort, workerData } = require('node:worker_threads');
      const { open } = require(workerData.api);
      (async () => {
        let n = 0;
        for await (const _ of open({ file: workerData.file }, { workers: workerData.workers })) {
          n++;
          if (n === 10) parentPort.postMessage({ started: true });
        }
        parentPort.postMessage({ events: n });
      })();\`;
    const run = (workers) => new Worker(body, { eval: true, workerData: { api, file, workers } });
    (async () => {
      const whole = run(1);
      const events = await new Promise((resolve, reject) => {
        whole.on('message', (m) => m.events !== undefined && resolve(m.events));
        whole.on('error', reject);
      });
      const cut = run(2);
      await new Promise((resolve) => cut.on('message', (m) => m.started && resolve()));
      const code = await cut.terminate();
      // The main thread's own sensor still works afterwards.
      const { open } = require(api);
      let mine = 0;
      for await (const _ of open({ file })) mine++;
      console.log(JSON.stringify({ events, mine, code }));
    })();`);
  t.is(r.status, 0, r.stderr);
  const { events, mine, code } = JSON.parse(r.stdout);
  t.is(events, mine);
  t.true(events > 10000);
  t.is(code, 1);
});

const why = whyNoLiveCapture();
(why ? test.skip : test.serial)(`process.exit() with live sensors capturing (one lane and a fan-out) exits cleanly${why ? ` (skipped: ${why})` : ''}`, async (t) => {
  const env = await vethWithServer(t);
  const r = child(
    `
    const { open } = require(process.argv[1]);
    const iface = process.argv[3];
    const a = open({ interface: iface });
    const b = open({ interface: iface }, { workers: 2 });
    (async () => { for await (const _ of a); })();
    (async () => { for await (const _ of b); })();
    setTimeout(() => process.exit(3), 300);`,
    [env.iface],
  );
  t.is(r.signal, null, r.stderr);
  t.is(r.status, 3, r.stderr);
  t.is(r.stderr, '');
});
