#!/usr/bin/env node
/**
 * npm run soak -- [--runs N] [--parallel P] [--workers W] [--traces DIR] [--stress]
 *
 * The CLI run again and again over many small traces, several at a time,
 * the way a loaded machine runs it: every run must exit 0, write nothing
 * on stderr and write exactly what the first run over the same trace
 * wrote. Hunts races at exit (capture and read-ahead threads, the
 * thread-safe function, finalizers, stdout at exit) that show once in
 * thousands of runs. Not a timed test: it reports how many runs it made and
 * every failure, with its exit status and stderr; exit status 1 if any.
 *
 * Traces: the conformance corpus when present (../shared/conformance), the
 * bundled sample, or --traces DIR. --stress runs `stress-ng --cpu N` beside
 * it (when installed) to load every core.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// TCPSENSOR_CLI: another build's cli.js (e.g. a frozen copy, while this tree is rebuilt).
const CLI = process.env.TCPSENSOR_CLI ?? path.join(ROOT, 'dist', 'cli.js');

const args = { runs: 2048, parallel: 4, workers: 1, traces: null, stress: false };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  const next = () => process.argv[++i];
  if (a === '--runs') args.runs = Number(next());
  else if (a === '--parallel') args.parallel = Number(next());
  else if (a === '--workers') args.workers = Number(next());
  else if (a === '--traces') args.traces = next();
  else if (a === '--stress') args.stress = true;
  else {
    console.error(`unknown argument ${a}`);
    process.exit(2);
  }
}

function findTraces() {
  const dirs = [args.traces ?? process.env.TCPSENSOR_CONFORMANCE ?? path.resolve(ROOT, '..', 'shared', 'conformance', 'traces')];
  const out = [];
  const walk = (d) => {
    if (!fs.existsSync(d)) return;
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(pcap|pcapng|cap|trace)$/.test(e.name) && fs.statSync(p).size < 2_000_000) out.push(p);
    }
  };
  dirs.forEach(walk);
  if (out.length === 0) out.push(path.join(ROOT, 'samples', 'sample.pcap'));
  return out.sort();
}

function runCli(trace) {
  return new Promise((resolve) => {
    const argv = [CLI, '-r', trace, '--events', 'all', '--contents', 'all', '-C'];
    if (args.workers > 1) argv.push('--workers', String(args.workers));
    const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out = [];
    let err = '';
    child.stdout.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code, signal) => resolve({ code, signal, stdout: Buffer.concat(out), stderr: err }));
  });
}

const traces = findTraces();
let stress;
if (args.stress && spawnSync('stress-ng', ['--version']).status === 0) {
  stress = spawn('stress-ng', ['--cpu', String(os.cpus().length), '--timeout', '86400'], { stdio: 'ignore' });
}
const reference = new Map();
const failures = [];
let done = 0;
let next = 0;
const started = Date.now();

async function worker() {
  while (next < args.runs) {
    const i = next++;
    const trace = traces[i % traces.length];
    const r = await runCli(trace);
    done++;
    // A trace may legitimately end in a read error (a truncated capture):
    // its first run sets what every run must repeat.
    const seen = reference.get(trace);
    if (!seen) {
      reference.set(trace, r);
      if (r.signal || r.code > 1) failures.push({ i, trace, why: `first run: exit ${r.signal ?? r.code}`, stderr: r.stderr });
    } else if (r.code !== seen.code || r.signal !== seen.signal || r.stderr !== seen.stderr || !r.stdout.equals(seen.stdout)) {
      failures.push({
        i,
        trace,
        why: `exit ${r.signal ?? r.code} (first run ${seen.signal ?? seen.code}); stdout ${r.stdout.length} bytes (first ${seen.stdout.length})`,
        stderr: r.stderr,
      });
    }
    if (done % 256 === 0) console.error(`[soak] ${done}/${args.runs} runs, ${failures.length} failures, ${((Date.now() - started) / 1000).toFixed(0)} s`);
  }
}

await Promise.all(Array.from({ length: args.parallel }, worker));
stress?.kill();
console.log(`soak: ${done} CLI runs over ${traces.length} traces (${args.parallel} at a time${args.workers > 1 ? `, --workers ${args.workers}` : ''}${stress ? ', stress-ng on every core' : ''}) in ${((Date.now() - started) / 1000).toFixed(0)} s: ${failures.length} failures`);
for (const f of failures) console.log(`- run ${f.i} ${path.relative(ROOT, f.trace)}: ${f.why}\n  ${f.stderr.trim().split('\n').join('\n  ')}`);
process.exit(failures.length ? 1 : 0);
