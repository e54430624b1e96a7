#!/usr/bin/env node
/**
 * npm run tsan: the addon's threads under ThreadSanitizer, without Node.
 *
 * Builds `tcpsensor-capture` (native/tools/capture_driver.cc: the addon's
 * capture, read-ahead, worker, merge and render threads, driven the way
 * JavaScript drives them) with clang and -fsanitize=thread in build-tsan/,
 * writes a crafted trace of 100,000 packets, and runs it one engine and
 * sharded, as events and as text, stopped and closed part way. Any report
 * fails the run (halt_on_error); so does a sharded or rendered run whose
 * counts differ from one engine's.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bigTrace } from '../test/helpers/traces.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BUILD = path.join(ROOT, 'build-tsan');
const DRIVER = path.join(BUILD, 'tcpsensor-capture');

function sh(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...options });
  if (r.error) throw r.error;
  return r;
}

function build() {
  const env = { ...process.env, CC: 'clang', CXX: 'clang++' };
  for (const args of [
    ['-S', ROOT, '-B', BUILD, '-DCMAKE_BUILD_TYPE=RelWithDebInfo', '-DTCPSENSOR_TSAN=ON'],
    ['--build', BUILD, '-j2', '--target', 'tcpsensor-capture'],
  ]) {
    const r = sh('cmake', args, { env, stdio: ['ignore', 'ignore', 'inherit'] });
    if (r.status !== 0) throw new Error(`cmake ${args.join(' ')} failed`);
  }
}

// The counts a run printed (event kinds, conn rows), and its summary line.
function parse(stdout) {
  const counts = {};
  let summary = '';
  for (const line of stdout.split('\n')) {
    const m = /^(\w+) (\d+)$/.exec(line);
    if (m) counts[m[1]] = Number(m[2]);
    if (line.startsWith('# ')) summary = line;
  }
  const rows = /conn_rows (\d+)/.exec(summary);
  if (rows && rows[1] !== '0') counts.conn_rows = Number(rows[1]);
  return { counts, summary };
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcpsensor-tsan-'));
let failures = 0;
try {
  build();
  const trace = bigTrace(100000).writer.write(path.join(dir, 'trace.pcap'));
  const env = { ...process.env, TSAN_OPTIONS: 'halt_on_error=1 exitcode=66 second_deadlock_stack=1' };
  const runs = [];
  for (const text of [[], ['--text', 'ndjson'], ['--text', 'conn']]) {
    for (const workers of ['1', '3']) runs.push({ args: ['--workers', workers, '--events', 'all', ...text], whole: text[1] ?? 'events' });
  }
  runs.push(
    { args: ['--workers', '1', '--stats-interval', '0.5'] },
    { args: ['--workers', '3', '--stats-interval', '0.5', '--text', 'ndjson'] },
    { args: ['--workers', '1', '--stop-after-batches', '5'] },
    { args: ['--workers', '3', '--stop-after-batches', '5', '--text', 'ndjson'] },
    { args: ['--workers', '1', '--close-after-batches', '3'] },
    { args: ['--workers', '3', '--close-after-batches', '3'] },
    { args: ['--workers', '2', '--close-after-batches', '1', '--text', 'conn'] },
  );
  // Whole runs of one kind must count alike, whatever the workers.
  const whole = {};
  for (const run of runs) {
    const r = sh(DRIVER, ['-r', trace, ...run.args], { env });
    const { counts, summary } = parse(r.stdout);
    const report = r.stderr.includes('ThreadSanitizer');
    const ok = r.status === 0 && !report;
    console.log(`${ok ? 'ok' : 'FAILED'}: ${run.args.join(' ')} → ${summary || `exit ${r.status}`}`);
    if (!ok) {
      failures++;
      console.log(r.stderr.slice(0, 20000));
      continue;
    }
    if (run.whole) {
      const key = JSON.stringify(counts);
      if (whole[run.whole] === undefined) whole[run.whole] = key;
      else if (whole[run.whole] !== key) {
        failures++;
        console.log(`FAILED: ${run.args.join(' ')} counts ${key}, one engine counted ${whole[run.whole]}`);
      }
    }
  }
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
console.log(failures ? `tsan: ${failures} failed` : 'tsan: no report, counts equal');
process.exit(failures ? 1 : 0);
