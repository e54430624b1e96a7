#!/usr/bin/env node
/**
 * npm run bench [-- --quick] [-- --hostile-full] ...
 *
 * The benchmark: generates (or reuses) its traces, measures the libpcap
 * read floor, the native core, the full stack into JavaScript and
 * node_pcap side by side, checks tcpsensor's event counts against Zeek's,
 * prints one table and appends it to bench/RESULTS.md. bench/README.md
 * says what each row means. Exits non-zero if the correctness gate fails.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchNatsServer } from '../test/helpers/nats.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BENCH = path.join(ROOT, 'bench');

// ---------------------------------------------------------------------------
// Arguments

const SECTIONS = ['bulk', 'workers', 'hard', 'scaling', 'flood', 'memory', 'conformance', 'hostile', 'nats'];
const USAGE = `usage: npm run bench [-- OPTIONS]
  --only LIST             only these sections (comma-separated): ${SECTIONS.join(', ')}
                          (workers and scaling reuse bulk's results, so bring bulk along)
  --quick                 one round per contender, smaller hostile run (a few minutes)
  --hostile-full          the hostile run at full size: 100,000 connections x 1 MiB (100 GB)
  --hostile-conns N       connections of the hostile run (default 100000)
  --hostile-bytes N       bytes above holes per connection (default ${512 * 1024}; quick ${32 * 1024})
  --compare-cli FILE      also measure another checkout's CLI (its dist/cli.js) beside ours on bulk-400k (before/after)
  --label TEXT            title of the RESULTS.md section (e.g. "baseline before optimization")
  --no-record             do not append to bench/RESULTS.md
  --nats-only             only the NATS JetStream sink's measurements (needs nats-server): --only nats
  --flood-only            only the connection table under floods (SYN and ACK floods, maxConnections): --only flood
  --work DIR              cache of generated traces and built tools (default bench/.work)
environment: TCPSENSOR_BENCH_INPUTS (default ../shared/bench), TCPSENSOR_CONFORMANCE (default ../shared/conformance)`;

function parseArgs(argv) {
  const a = { quick: false, hostileFull: false, hostileConns: 100000, hostileBytes: null, label: '', record: true, work: null, natsOnly: false, compareCli: null, only: null };
  for (let i = 0; i < argv.length; i++) {
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${argv[i]} needs a value`);
      return argv[++i];
    };
    const count = (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n <= 0) throw new Error(`bad count '${v}'`);
      return n;
    };
    switch (argv[i]) {
      case '--quick': a.quick = true; break;
      case '--hostile-full': a.hostileFull = true; break;
      case '--hostile-conns': a.hostileConns = count(next()); break;
      case '--hostile-bytes': a.hostileBytes = count(next()); break;
      case '--label': a.label = next(); break;
      case '--no-record': a.record = false; break;
      case '--nats-only': a.only = new Set(['nats']); break;
      case '--flood-only': a.only = new Set(['flood']); break;
      case '--only': {
        a.only = new Set(next().split(','));
        for (const name of a.only) if (!SECTIONS.includes(name)) throw new Error(`unknown section '${name}' (sections: ${SECTIONS.join(', ')})`);
        break;
      }
      case '--work': a.work = path.resolve(next()); break;
      case '--compare-cli': a.compareCli = path.resolve(next()); break;
      case '-h': case '--help': console.log(USAGE); process.exit(0);
      default: throw new Error(`unknown argument '${argv[i]}'\n${USAGE}`);
    }
  }
  if (a.hostileFull) {
    a.hostileConns = 100000;
    a.hostileBytes = 1 << 20;
  }
  a.hostileBytes ??= a.quick ? 32 * 1024 : 512 * 1024;
  return a;
}

let args;
try {
  args = parseArgs(process.argv.slice(2));
  args.natsOnly = args.only?.size === 1 && args.only.has('nats');
} catch (err) {
  console.error(err.message);
  process.exit(2);
}
/** Whether a section runs (workers and scaling reuse bulk's results). */
const want = (section) =>
  !args.only || args.only.has(section) || (section === 'bulk' && (args.only.has('workers') || args.only.has('scaling')));

const WORK = args.work ?? path.join(BENCH, '.work');
const INPUTS = process.env.TCPSENSOR_BENCH_INPUTS ?? path.resolve(ROOT, '..', 'shared', 'bench');
const CONFORMANCE = process.env.TCPSENSOR_CONFORMANCE ?? path.resolve(ROOT, '..', 'shared', 'conformance');
const NATIVE = path.join(ROOT, 'build-native', 'tcpsensor-native');
const BIN = path.join(WORK, 'bin');
const FLOOR = path.join(BIN, 'floor');
const GEN_HOSTILE = path.join(BIN, 'gen-hostile');
const JS_READ = path.join(BENCH, 'js-read.mjs');
const CLI = path.join(ROOT, 'dist', 'cli.js');
const NODE_PCAP = path.join(BENCH, 'node-pcap-tracker.cjs');
const NATS_PUBLISH = path.join(BENCH, 'nats-publish.mjs');
// Rounds per contender: interleaved, best kept.
const SMALL_ROUNDS = args.quick ? 1 : 3;
const BIG_ROUNDS = args.quick ? 1 : 2;
// The reassembly-holding traces: connections each holding this much above
// a hole; per-connection cost is the difference between the two sizes.
const HOLD_CONNS = [5000, 50000];
const HOLD_BYTES = 3 * 1460;
// Events for the memory runs: few per connection, contents on.
const MEMORY_EVENTS = ['new_connection', 'tcp_contents', 'connection_state_remove'];
const CONTENTS_ALL = { contentDeliverAllOrig: true, contentDeliverAllResp: true };
const MAX_REASSEMBLY_BYTES = 256 * 1024 * 1024; // the engine's default (native/core/options.h)
const MAX_FRAGMENT_BYTES = 64 * 1024 * 1024; // likewise
const FLOOD = path.join(BENCH, 'flood.py');
// The hostile rows (bench/README.md): the flood's attackers open a new hole
// every HOLE_EVERY segments; LEGIT legitimate connections run through it.
const HOSTILE_EVENTS = [...MEMORY_EVENTS, 'content_gap'];
const HOLE_EVERY = 64;
const LEGIT = { conns: 1000, bytes: 64 * 1024, port: 8080 };
// zeek#575: segments per connection (connections one after another),
// DUP_TOTAL segments in each trace.
const DUP_SIZES = [1000, 10000, 100000];
const DUP_TOTAL = 500000;
const STORM = { conns: 1000, segments: 100, copies: 10 };
const TINY = { conns: 1000, segments: 2000, window: 1000 };

// ---------------------------------------------------------------------------
// Small helpers

const t0 = Date.now();
const loadAtStart = os.loadavg()[0];
const stepTimes = [];
const skipped = [];
const notes = [];

function log(msg) {
  process.stderr.write(`${msg}\n`);
}

async function step(name, fn) {
  const start = Date.now();
  log(`\n== ${name}`);
  try {
    return await fn();
  } finally {
    const s = (Date.now() - start) / 1000;
    stepTimes.push([name, s]);
    log(`== ${name}: ${s.toFixed(1)} s (total ${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  }
}

const M = (n) => (n / 1e6).toFixed(n >= 1e7 ? 1 : 2);
const rate = (n) => `${M(n)} M/s`;
const pct = (x) => `${(100 * x).toFixed(1)}%`;
const mib = (bytes) => `${(bytes / 1048576).toFixed(0)} MiB`;
const secs = (s) => (s < 10 ? s.toFixed(2) : s.toFixed(1));
const met = (ok) => (ok ? 'met' : '**not met**');
const mibKB = (r) => (r ? mib(r.rssKB * 1024) : 'n/a');
/** The best run's time, and every run's when there were several (the spread shows the noise). */
const timing = (r) => (r.runs?.length > 1 ? `${secs(r.seconds)} s; runs ${r.runs.map((x) => secs(x.seconds)).join(' / ')}` : `${secs(r.seconds)} s`);
/** One contender's best run: packets/s (events/s), time, peak RSS. */
const res = (x, withEvents = false) =>
  x ? `${rate(x.packetsPerSecond)} pkts${withEvents ? `, ${rate(x.eventsPerSecond)} events` : ''} (${timing(x)}), RSS ${mib(x.rssKB * 1024)}` : 'FAILED';
/** The worst event-loop gap over all runs of a full-stack contender. */
const worstGap = (r) => (r ? r.runs.reduce((w, x) => (x.maxGapMs > w.maxGapMs ? x : w), r.runs[0]) : null);
const ms = (r) => {
  const w = worstGap(r);
  if (!w) return 'n/a';
  const where = w.endGapMs >= w.midGapMs ? `at the end of the read (before it: ≤ ${w.midGapMs.toFixed(0)} ms)` : `at ${w.maxGapAtS.toFixed(1)} of ${w.seconds.toFixed(1)} s`;
  return `${w.maxGapMs.toFixed(0)} ms ${where}, ${w.gapsOver50} gap${w.gapsOver50 === 1 ? '' : 's'} > 50 ms`;
};
/** Bytes of peak RSS per connection between two runs that differ by `n` connections. */
const per2 = (big, small, n) => (big && small ? ((big.rssKB - small.rssKB) * 1024) / n : NaN);

function sh(cmd, cmdArgs, opts = {}) {
  log(`$ ${[cmd, ...cmdArgs].join(' ')}`);
  const r = spawnSync(cmd, cmdArgs, { stdio: 'inherit', ...opts });
  return r.status === 0;
}

/**
 * Runs a command; resolves { code, stdout, stderr, rssKB, cpuSeconds,
 * wallSeconds }. Peak RSS and CPU time (user + system) come from
 * /usr/bin/time (the kernel's own accounting of the child); without it,
 * peak RSS from VmHWM in /proc/PID/status polled every 10 ms, and no CPU
 * time.
 */
function run(cmd, cmdArgs) {
  const timeBin = fs.existsSync('/usr/bin/time') ? '/usr/bin/time' : null;
  const [file, argv] = timeBin ? [timeBin, ['-f', '@@rss %M %U %S', cmd, ...cmdArgs]] : [cmd, cmdArgs];
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let hwm = 0;
    const poll = timeBin
      ? null
      : setInterval(() => {
          try {
            const m = /VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'));
            if (m) hwm = Math.max(hwm, Number(m[1]));
          } catch {}
        }, 10);
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (poll) clearInterval(poll);
      let rssKB = hwm;
      let cpuSeconds = NaN;
      stderr = stderr.replace(/^@@rss (\d+) ([\d.]+) ([\d.]+)\n?/m, (_, kb, user, sys) => {
        rssKB = Number(kb);
        cpuSeconds = Number(user) + Number(sys);
        return '';
      });
      stderr = stderr.replace(/^Command (exited with non-zero status|terminated by signal) .*\n?/m, '');
      const r = { code: code ?? -1, signal, stdout, stderr, rssKB, cpuSeconds, wallSeconds: (performance.now() - start) / 1000 };
      if (r.code !== 0) log(`   ${path.basename(cmd)} failed (${signal ?? code}): ${stderr.trim().slice(0, 400)}`);
      resolve(r);
    });
  });
}

// ---------------------------------------------------------------------------
// Contenders. Each returns { packets, seconds, packetsPerSecond, rssKB, ... }
// or null if it failed.

async function floor(file) {
  const r = await run(FLOOR, [file]);
  const m = /# packets (\d+) bytes (\d+) seconds ([\d.]+) packets_per_second ([\d.]+)/.exec(r.stdout);
  if (r.code !== 0 || !m) return null;
  const packets = Number(m[1]);
  const seconds = Number(m[3]);
  return { packets, bytes: Number(m[2]), seconds, packetsPerSecond: packets / seconds, rssKB: r.rssKB };
}

/**
 * The native driver; `events` is its --events spec. `workers` shards the
 * file as the addon does, run one after another on one thread (what
 * dispatching and stepping cost, without threads).
 */
async function native(file, { events = 'default', contents = false, ignoreChecksums = false, workers = 0, maxConnections = 0 } = {}) {
  const argv = [file, '--events', Array.isArray(events) ? events.join(',') : events];
  if (contents) argv.push('--contents-all');
  if (ignoreChecksums) argv.push('-C');
  if (workers) argv.push('--workers', String(workers));
  if (maxConnections) argv.push('--max-connections', String(maxConnections));
  const r = await run(NATIVE, argv);
  const m = /# packets (\d+) events (\d+) seconds ([\d.]+) packets_per_second ([\d.]+) connections (\d+)(?: evicted (\d+))?(?: dispatch_seconds ([\d.]+))?/.exec(r.stdout);
  if (r.code !== 0 || !m) return null;
  const counts = {};
  for (const line of r.stdout.split('\n')) {
    const c = /^(\w+) (\d+)$/.exec(line);
    if (c) counts[c[1]] = Number(c[2]);
  }
  const flushes = /# reassembly_flushes (\d+) reassembly_dropped_bytes (\d+)/.exec(r.stdout);
  const packets = Number(m[1]);
  const pps = Number(m[4]);
  // The driver prints seconds to the millisecond; its packets/s keeps
  // more precision for short runs.
  const seconds = packets > 0 && pps > 0 ? packets / pps : Number(m[3]);
  return {
    packets, events: Number(m[2]), seconds, packetsPerSecond: packets / seconds, eventsPerSecond: Number(m[2]) / seconds,
    connections: Number(m[5]), evicted: Number(m[6] ?? 0), counts, rssKB: r.rssKB, cpuSeconds: r.cpuSeconds,
    dispatchSeconds: m[7] !== undefined ? Number(m[7]) : undefined,
    reassemblyFlushes: flushes ? Number(flushes[1]) : NaN, reassemblyDroppedBytes: flushes ? Number(flushes[2]) : NaN,
  };
}

/**
 * The CLI (ours, or `cliPath`: another checkout's) writing NDJSON (or what
 * `extra` asks for) to /dev/null, or with `keep` into `stdout` (for few
 * lines), timed as a user sees it: the whole process, Node's start-up
 * included. `packets` is the trace's count (the CLI does not print it).
 */
async function cli(file, extra = [], packets = 0, cliPath = CLI, { keep = false } = {}) {
  const quoted = [cliPath, '-r', file, ...extra].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
  const r = await run('sh', ['-c', `exec "${process.execPath}" ${quoted}${keep ? '' : ' > /dev/null'}`]);
  if (r.code !== 0) return null;
  return { packets, seconds: r.wallSeconds, packetsPerSecond: packets / r.wallSeconds, rssKB: r.rssKB, stdout: keep ? r.stdout : undefined };
}

/** The full stack: bench/js-read.mjs in its own process (`extra`: e.g. { verify: { port } }). */
async function full(files, options = {}, extra = {}) {
  const list = (Array.isArray(files) ? files : [files]).map((f) => (typeof f === 'string' ? { file: f } : f));
  const r = await run(process.execPath, [JS_READ, JSON.stringify({ files: list, options, ...extra })]);
  if (r.code !== 0) return null;
  const out = JSON.parse(r.stdout.trim().split('\n').pop());
  return { ...out, rssKB: r.rssKB, processSeconds: r.wallSeconds };
}

async function nodePcap(file) {
  const r = await run(process.execPath, [NODE_PCAP, file]);
  if (r.code !== 0) return null;
  return { ...JSON.parse(r.stdout.trim().split('\n').pop()), rssKB: r.rssKB };
}

/**
 * Runs the contenders interleaved, `rounds` times, after one untimed read
 * of each file (page cache warm); keeps each one's fastest run. A
 * contender is a function, or { run, rounds } to run it in fewer rounds
 * (the slow ones). Returns { name: best } (null if every run failed).
 */
async function interleaved(rounds, contenders, warmFiles = []) {
  for (const f of warmFiles) await floor(f);
  const best = {};
  const all = {};
  for (let r = 1; r <= rounds; r++) {
    for (const [name, c] of Object.entries(contenders)) {
      const fn = typeof c === 'function' ? c : c.run;
      const mine = Math.min(rounds, typeof c === 'function' ? rounds : c.rounds);
      if (r > mine) continue;
      const res = await fn();
      all[name] ??= [];
      if (res) all[name].push(res);
      if (res && (!best[name] || res.seconds < best[name].seconds)) best[name] = res;
      else best[name] ??= null;
      log(`   round ${r}/${mine} ${name.padEnd(14)} ${res ? `${secs(res.seconds)} s  ${rate(res.packetsPerSecond)} pkts  RSS ${mib(res.rssKB * 1024)}` : 'FAILED'}`);
    }
  }
  // The fastest run of each, with every run kept for worst cases.
  for (const name of Object.keys(best)) if (best[name]) best[name].runs = all[name];
  return best;
}

// ---------------------------------------------------------------------------
// Preparation: builds and inputs

function newestMtime(dir) {
  let newest = 0;
  if (!fs.existsSync(dir)) return 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const p = path.join(e.parentPath ?? e.path, e.name);
    newest = Math.max(newest, fs.statSync(p).mtimeMs);
  }
  return newest;
}

const mtime = (p) => (fs.existsSync(p) ? fs.statSync(p).mtimeMs : 0);

function prepareBuilds() {
  const addon = path.join(ROOT, 'build', 'Release', 'tcpsensor.node');
  const nativeSrc = newestMtime(path.join(ROOT, 'native'));
  if (!fs.existsSync(addon)) {
    if (!sh('npm', ['run', 'build:native'], { cwd: ROOT })) throw new Error('cannot build the addon (npm run build:native)');
  } else if (nativeSrc > mtime(addon)) {
    log('native/ is newer than the addon: rebuilding it');
    if (!sh('npm', ['run', 'build:native'], { cwd: ROOT })) throw new Error('cannot rebuild the addon');
  }
  const dist = path.join(ROOT, 'dist', 'index.mjs');
  if (!fs.existsSync(dist) || newestMtime(path.join(ROOT, 'lib')) > mtime(path.join(ROOT, 'dist', 'index.js'))) {
    if (!sh('npm', ['run', 'build:ts'], { cwd: ROOT })) throw new Error('cannot build dist/ (npm run build:ts)');
  }
  // The native driver: configure once, then an incremental build (a no-op
  // when nothing changed).
  if (!fs.existsSync(path.join(ROOT, 'build-native', 'CMakeCache.txt'))) {
    if (!sh('npm', ['run', 'build:native-tools'], { cwd: ROOT })) throw new Error('cannot build build-native/ (npm run build:native-tools)');
  } else if (!sh('cmake', ['--build', path.join(ROOT, 'build-native'), '--target', 'tcpsensor-native', '-j', String(os.cpus().length)], { cwd: ROOT })) {
    throw new Error('cannot build build-native/tcpsensor-native');
  }
  fs.mkdirSync(BIN, { recursive: true });
  for (const [src, out, libs] of [['floor.c', FLOOR, ['-lpcap']], ['gen-hostile.c', GEN_HOSTILE, []]]) {
    const source = path.join(BENCH, src);
    if (mtime(out) > mtime(source)) continue;
    if (!sh('cc', ['-O2', '-Wall', '-Wextra', '-o', out, source, ...libs])) throw new Error(`cannot compile bench/${src}`);
  }
}

/** node_pcap into bench/node_modules; false (with a message) if it cannot be had. */
function prepareNodePcap() {
  const probe = () => spawnSync(process.execPath, ['-e', "require('pcap')"], { cwd: BENCH, encoding: 'utf8' });
  if (probe().status === 0) return true;
  const lock = fs.existsSync(path.join(BENCH, 'package-lock.json'));
  sh('npm', [lock ? 'ci' : 'install', '--no-audit', '--no-fund', '--foreground-scripts'], { cwd: BENCH });
  let p = probe();
  if (p.status !== 0 && fs.existsSync(path.join(BENCH, 'node_modules', 'pcap'))) {
    // An npm that skipped install scripts leaves the binding unbuilt.
    sh('npm', ['rebuild', 'pcap', '--foreground-scripts'], { cwd: BENCH });
    p = probe();
  }
  if (p.status === 0) return true;
  const why = (p.stderr || '').split('\n').find((l) => /Error|Cannot/.test(l)) ?? 'unknown error';
  skipped.push(`node_pcap: could not be installed or built in bench/node_modules (${why.trim()}); its comparison is skipped`);
  log(`SKIP node_pcap: ${why.trim()}`);
  return false;
}

/**
 * A generated trace, cached under WORK/traces keyed by the generator's
 * content and its parameters; older versions of the same trace are removed.
 * `produce(out)` gives the command that writes it; `weight` orders the
 * generation (longest first).
 */
function tracePlan(name, generator, params, produce, weight = 0) {
  const key = createHash('sha256').update(fs.readFileSync(generator)).update(JSON.stringify(params)).digest('hex').slice(0, 12);
  return { name, file: path.join(WORK, 'traces', `${name}.${key}.pcap`), produce, weight };
}

async function materialize(plans) {
  fs.mkdirSync(path.join(WORK, 'traces'), { recursive: true });
  const todo = plans.filter((p) => !fs.existsSync(p.file));
  for (const p of plans) {
    for (const f of fs.readdirSync(path.join(WORK, 'traces'))) {
      if (f.startsWith(`${p.name}.`) && path.join(WORK, 'traces', f) !== p.file) fs.rmSync(path.join(WORK, 'traces', f));
    }
  }
  if (!todo.length) {
    log('   all traces cached');
    return;
  }
  // Generators are single-threaded: run as many at once as there are cores.
  const queue = [...todo].sort((a, b) => b.weight - a.weight);
  const worker = async () => {
    for (let p = queue.shift(); p; p = queue.shift()) {
      const tmp = `${p.file}.tmp`;
      const start = Date.now();
      const [cmd, argv] = p.produce(tmp);
      const r = await run(cmd, argv);
      if (r.code !== 0) throw new Error(`generating ${p.name} failed: ${r.stderr}`);
      fs.renameSync(tmp, p.file);
      log(`   generated ${p.name} (${mib(fs.statSync(p.file).size)}) in ${((Date.now() - start) / 1000).toFixed(1)} s`);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(os.cpus().length, 4)) }, worker));
}

// ---------------------------------------------------------------------------
// The run

const rows = []; // the table
const row = (measurement, trace, result, vsFloor = '', target = '', status = '') =>
  rows.push({ measurement, trace, result, vsFloor, target, status });
const gate = { failures: [] };

function zeekCounts() {
  const text = fs.readFileSync(path.join(INPUTS, 'bulk-400k.zeek-counts.txt'), 'utf8');
  const counts = {};
  for (const line of text.split('\n')) {
    const m = /^(\w+)\s+(\d+)$/.exec(line.trim());
    if (m) counts[m[1]] = Number(m[2]);
  }
  return counts;
}

function checkCounts(who, ours) {
  const zeek = zeekCounts();
  const diffs = Object.entries(zeek)
    .filter(([name, n]) => (ours?.[name] ?? 0) !== n)
    .map(([name, n]) => `${name} ${ours?.[name] ?? 0} (Zeek ${n})`);
  if (!ours) diffs.push('no result');
  if (diffs.length) gate.failures.push(`${who}: ${diffs.join(', ')}`);
  return { ok: diffs.length === 0, text: diffs.length ? diffs.join('; ') : `all ${Object.keys(zeek).length} types equal` };
}

/** Nanoseconds per packet of a contender's best run. */
const nsPerPacket = (r) => (r ? 1e9 / r.packetsPerSecond : NaN);
const ns = (r) => (r ? `${nsPerPacket(r).toFixed(0)} ns` : 'FAILED');
const num = (x) => (Number.isFinite(x) ? x.toLocaleString('en-US') : '–');
/** What a full-stack run with `verify` found: "complete 5/5". */
const verified = (f) => (f?.verified ? `complete ${num(f.verified.complete)}/${num(f.verified.connections)}${f.verified.problems.length ? ` (${f.verified.problems[0]})` : ''}` : 'FAILED');
const allComplete = (f) => !!f?.verified && f.verified.connections > 0 && f.verified.complete === f.verified.connections;

/**
 * The hostile rows: the memory bound under a flood with legitimate
 * connections through it (streamed through a FIFO), Zeek's own worst case
 * (zeek#575), a retransmission storm and tiny out-of-order segments.
 */
async function hostileSection(T) {
  await step(`hostile: ${num(args.hostileConns)} connections × ${num(args.hostileBytes)} B above holes, ${num(LEGIT.conns)} legitimate connections through them, through a FIFO`, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcpsensor-bench-'));
    const fifo = path.join(dir, 'hostile.pcap');
    try {
      const conns = args.hostileConns;
      const segs = Math.ceil(args.hostileBytes / 1460);
      // Bytes of pcap: per connection 5 handshake packets (one with a data
      // byte) and the segments, each with a 16-byte record header; the
      // legitimate connections are a rounding error.
      const volume = 24 + conns * (5 * (16 + 54) + 1 + segs * (16 + 54 + 1460));
      const bound = MAX_REASSEMBLY_BYTES + 4096 * conns + 256 * 1048576;
      const genArgs = [conns, args.hostileBytes, '--hole-every', HOLE_EVERY, '--legit', LEGIT.conns, LEGIT.bytes];
      const through = async (reader) => {
        fs.rmSync(fifo, { force: true });
        if (spawnSync('mkfifo', [fifo]).status !== 0) throw new Error('mkfifo failed');
        // The shell blocks opening the FIFO until the reader opens it.
        const gen = run('sh', ['-c', `exec "${GEN_HOSTILE}" ${genArgs.join(' ')} > "${fifo}"`]);
        const [r, g] = await Promise.all([reader(), gen]);
        if (g.code !== 0) log(`   gen-hostile: ${g.stderr.trim()}`);
        return r;
      };
      const hn = await through(() => native(fifo, { events: HOSTILE_EVENTS, contents: true }));
      log(`   native: ${hn ? `${secs(hn.seconds)} s, RSS ${mib(hn.rssKB * 1024)}` : 'FAILED'}`);
      const hf = await through(() => full(fifo, { events: HOSTILE_EVENTS, ...CONTENTS_ALL }, { verify: { port: LEGIT.port } }));
      log(`   full stack: ${hf ? `${secs(hf.seconds)} s, RSS ${mib(hf.rssKB * 1024)}, legitimate ${verified(hf)}` : 'FAILED'}`);
      const within = hn && hf && hn.rssKB * 1024 <= bound && hf.rssKB * 1024 <= bound;
      const gb = (volume / 1e9).toFixed(1);
      const fr = !hf ? '' : hf.statsLive ? `, peak reassemblyBytes ${mib(hf.peak.reassemblyBytes)}` : ', reassemblyBytes not observable while reading';
      row(`hostile: ${num(conns)} connections × ${num(segs * 1460)} B above holes (a new one every ${HOLE_EVERY} segments), ${num(LEGIT.conns)} legitimate connections of ${num(LEGIT.bytes)} B through them (reordered, a segment in 8 lost and resent); ${gb} GB through a FIFO, maxReassemblyBytes 256 MiB`,
        'gen-hostile --legit',
        `legitimate connections complete: ${allComplete(hf) ? 'yes' : '**no**'} (${verified(hf)}); ` +
        `native: peak RSS ${hn ? mib(hn.rssKB * 1024) : 'FAILED'} (${hn ? secs(hn.seconds) : '–'} s, CPU ${hn ? secs(hn.cpuSeconds) : '–'} s), ${num(hn?.reassemblyFlushes)} endpoints flushed; ` +
        `full stack: peak RSS ${hf ? mib(hf.rssKB * 1024) : 'FAILED'} (${hf ? secs(hf.seconds) : '–'} s)${fr}, ${num(hf?.final.reassemblyFlushes)} endpoints flushed, reassemblyDroppedBytes ${hf ? mib(hf.final.reassemblyDroppedBytes) : '–'}`,
        '', `legitimate complete; RSS ≤ ${mib(bound)} (cap + 4 KiB/conn + 256 MiB)`, met(within && allComplete(hf)));
      if (!args.hostileFull) notes.push(`The hostile flood used ${gb} GB (${args.hostileBytes} B per connection); the full 100 GB run is \`npm run bench -- --hostile-full\`.`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  const ALL_CONTENTS = { events: 'all', contents: true };
  const VERIFY_EVENTS = { events: ['tcp_contents', 'content_gap', 'connection_state_remove'], contentDeliverAllOrig: true };
  // Native: ns per packet, best of the rounds (floor interleaved); full
  // stack: one run, every stream checked byte by byte.
  const measure = async (plan) => {
    const r = await interleaved(SMALL_ROUNDS, { floor: () => floor(plan.file), native: () => native(plan.file, ALL_CONTENTS) }, [plan.file]);
    r.full = await full(plan.file, VERIFY_EVENTS, { verify: { port: 80 } });
    return r;
  };
  const contents = (r) => num(r.native?.counts.tcp_contents ?? NaN);

  await step(`zeek#575: ${DUP_SIZES.map(num).join(' / ')} segments per connection, every one sent twice, never acknowledged (best of ${SMALL_ROUNDS})`, async () => {
    const D = {};
    for (const size of DUP_SIZES) D[size] = await measure(T.dup[size]);
    // Flatness from CPU time: on a shared machine, waiting for a core
    // weighs on wall time far more.
    const cpuNs = (r) => (r?.runs?.length ? (1e9 * Math.min(...r.runs.map((x) => x.cpuSeconds))) / r.packets : NaN);
    const [small, , big] = DUP_SIZES.map((size) => cpuNs(D[size].native));
    row(`zeek#575: one side stops acknowledging after 4 segments, the other sends every segment twice; ns per packet as the unacknowledged stream grows to ${DUP_SIZES.map(num).join(' / ')} segments of 100 B (connections one after another, ${num(DUP_TOTAL)} segments per trace; native, all events + contents)`,
      'gen-hostile --dup',
      `CPU ${DUP_SIZES.map((size) => `${cpuNs(D[size].native).toFixed(0)} ns`).join(' / ')}; wall ${DUP_SIZES.map((size) => ns(D[size].native)).join(' / ')} (floor ${DUP_SIZES.map((size) => ns(D[size].floor)).join(' / ')}); peak RSS ${DUP_SIZES.map((size) => mibKB(D[size].native)).join(' / ')}; ` +
      `tcp_contents ${DUP_SIZES.map((size) => contents(D[size])).join(' / ')} (expected ${num(DUP_TOTAL)}: each segment once); full stack ${DUP_SIZES.map((size) => verified(D[size].full)).join(' / ')}`,
      `CPU ${(big / small).toFixed(2)}× from ${num(DUP_SIZES[0])} to ${num(DUP_SIZES[2])}`, `flat (CPU ≤ 1.25×); streams complete`,
      met(big / small <= 1.25 && DUP_SIZES.every((size) => allComplete(D[size].full))));
  });

  await step(`retransmission storm and tiny out-of-order segments (best of ${SMALL_ROUNDS})`, async () => {
    const S = await measure(T.storm);
    const segments = STORM.conns * STORM.segments;
    row(`retransmission storm: ${num(STORM.conns)} connections × ${num(STORM.segments)} segments of 200 B, each sent ${STORM.copies} times (re-cut to overlap the one before; half of the copies after its ack), round-robin (native, all events + contents)`,
      'gen-hostile --storm',
      `${ns(S.native)} per packet (floor ${ns(S.floor)}), peak RSS ${mibKB(S.native)}; tcp_contents ${contents(S)} (expected ${num(segments)}); full stack ${verified(S.full)}`,
      S.floor && S.native ? pct(S.native.packetsPerSecond / S.floor.packetsPerSecond) : 'n/a', 'streams complete', met(allComplete(S.full)));
    const Y = await measure(T.tiny);
    const bytes = TINY.conns * TINY.segments;
    row(`tiny out-of-order segments: ${num(TINY.conns)} connections × ${num(TINY.segments)} one-byte segments (${num(bytes)} in all), in windows of ${num(TINY.window)} sent last byte first, round-robin; up to ${num(TINY.conns * (TINY.window - 1))} blocks held at once (native, all events + contents)`,
      'gen-hostile --tiny',
      `${ns(Y.native)} per packet (floor ${ns(Y.floor)}), peak RSS ${mibKB(Y.native)}; tcp_contents ${contents(Y)} (expected ${num(bytes)}); full stack ${verified(Y.full)}${Y.full?.statsLive ? `, peak reassemblyBytes ${mib(Y.full.peak.reassemblyBytes)}` : ''}, ${num(Y.native?.reassemblyFlushes)} flushed`,
      Y.floor && Y.native ? pct(Y.native.packetsPerSecond / Y.floor.packetsPerSecond) : 'n/a', 'streams complete', met(allComplete(Y.full)));
  });
}

/** The rows of the bulk trace, node_pcap and the correctness gate. */
function bulkRows(B, vs, havePcap) {
  const fl = B.floor;
  row('floor: libpcap read (bench/floor.c)', 'bulk-400k', fl ? `${rate(fl.packetsPerSecond)} pkts (${timing(fl)})` : 'FAILED', '100%');
  const share = (x) => (x && fl ? x.packetsPerSecond / fl.packetsPerSecond : 0);
  row('native core, default events', 'bulk-400k', res(B.nativeDefault, true), vs(B.nativeDefault), '≥ 60% of floor', met(share(B.nativeDefault) >= 0.6));
  row('native core, all events + contents', 'bulk-400k', res(B.nativeAll, true), vs(B.nativeAll));
  row('full stack → for await, default events', 'bulk-400k', res(B.fullDefault, true), vs(B.fullDefault), '≥ 45% of floor', met(share(B.fullDefault) >= 0.45));
  row('full stack → for await, all events + contents', 'bulk-400k', res(B.fullAll, true), vs(B.fullAll), '≥ 2 M events/s', met((B.fullAll?.eventsPerSecond ?? 0) >= 2e6));
  const gap = Math.max(worstGap(B.fullDefault)?.maxGapMs ?? Infinity, worstGap(B.fullAll)?.maxGapMs ?? Infinity);
  row('event loop: longest gap of a 10 ms setInterval during the read (worst run)', 'bulk-400k',
    `default events ${ms(B.fullDefault)}; all events ${ms(B.fullAll)}`, '', '≤ 50 ms', met(gap <= 50));
  // The CLI against for await, both timed as whole processes (Node's
  // start-up included), and against the floor.
  const cliVsLoop = B.cliNdjson && B.fullDefault ? B.cliNdjson.seconds / B.fullDefault.processSeconds : Infinity;
  row('CLI → NDJSON on /dev/null, default events (whole process)', 'bulk-400k',
    `${res(B.cliNdjson)}; for await, whole process: ${B.fullDefault ? `${secs(B.fullDefault.processSeconds)} s` : 'n/a'} (CLI / for await ${cliVsLoop.toFixed(2)})`,
    vs(B.cliNdjson), '≥ 45% of floor; ≤ 1.10 × for await', met(share(B.cliNdjson) >= 0.45 && cliVsLoop <= 1.1));
  row('CLI → conn.log rows on /dev/null (--format conn, whole process)', 'bulk-400k', res(B.cliConn), vs(B.cliConn));
  if (args.compareCli) {
    const before = (x, now) => (x ? `${res(x)}; this checkout ${now ? `${(x.seconds / now.seconds).toFixed(1)}× faster` : 'n/a'}` : 'FAILED');
    row(`compared CLI (${args.compareCli}) → NDJSON on /dev/null, default events`, 'bulk-400k', before(B.compareNdjson, B.cliNdjson), vs(B.compareNdjson));
    row(`compared CLI (${args.compareCli}) → conn.log rows on /dev/null`, 'bulk-400k', before(B.compareConn, B.cliConn), vs(B.compareConn));
  }
  const gn = checkCounts('native', B.nativeAll?.counts);
  const gf = checkCounts('full stack', B.fullAll?.counts);
  row('correctness gate: per-type counts = Zeek (all events + contents)', 'bulk-400k', `native: ${gn.text}; full stack: ${gf.text}`, '', 'equal', gn.ok && gf.ok ? 'pass' : '**FAIL**');

  // -- 2. node_pcap (run in the rounds above)
  const p = B.nodePcap;
  if (!havePcap) {
    row("node_pcap's TCPTracker", 'bulk-400k', 'skipped (see below)', '', '', 'n/a');
  } else if (!p) {
    skipped.push('node_pcap: its run failed (see the log)');
    row("node_pcap's TCPTracker", 'bulk-400k', 'FAILED', '', '', 'n/a');
  } else {
    const ratio = B.fullDefault ? B.fullDefault.packetsPerSecond / p.packetsPerSecond : 0;
    const ratioNative = B.nativeDefault ? B.nativeDefault.packetsPerSecond / p.packetsPerSecond : 0;
    row("node_pcap's TCPTracker (decode + track in JS)", 'bulk-400k',
      `${rate(p.packetsPerSecond)} pkts (${secs(p.seconds)} s), RSS ${mib(p.rssKB * 1024)}; ${p.sessions.toLocaleString('en-US')} sessions for 400,000 connections`,
      vs(p));
    row('full stack (default events) vs node_pcap, packets/s', 'bulk-400k', `${ratio.toFixed(1)}× (native core: ${ratioNative.toFixed(1)}×)`, '', '≥ 10×', met(ratio >= 10));
  }
}

async function main() {
  log(`tcpsensor benchmark${args.quick ? ' (quick)' : ''}: work dir ${WORK}`);
  if (loadAtStart > os.cpus().length) {
    log(`note: load average ${loadAtStart.toFixed(1)} on ${os.cpus().length} cores: other work is running; absolute numbers will be low, compare the ratios`);
  }
  for (const f of ['gen-bulk.py', 'gen-synflood.py', 'bulk-400k.zeek-counts.txt']) {
    if (!fs.existsSync(path.join(INPUTS, f))) throw new Error(`missing ${path.join(INPUTS, f)} (set TCPSENSOR_BENCH_INPUTS)`);
  }

  let havePcap = false;
  await step('prepare: builds, node_pcap', async () => {
    prepareBuilds();
    if (want('bulk')) havePcap = prepareNodePcap();
  });

  const py = 'python3';
  const shared = (script) => path.join(INPUTS, script);
  const bulk = (n) => tracePlan(`bulk-${n / 1000}k`, shared('gen-bulk.py'), { n }, (out) => [py, [shared('gen-bulk.py'), out, String(n)]], n);
  const syn = (n) => tracePlan(`synflood-${n >= 1e6 ? `${n / 1e6}m` : `${n / 1000}k`}`, shared('gen-synflood.py'), { n }, (out) => [py, [shared('gen-synflood.py'), out, String(n)]], n / 12);
  const hostile = (name, argv, weight = 0) => tracePlan(name, path.join(BENCH, 'gen-hostile.c'), { argv },
    (out) => ['sh', ['-c', `exec "${GEN_HOSTILE}" ${argv.join(' ')} > "${out}"`]], weight);
  const hold = (n) => hostile(`hold-${n / 1000}k`, [n, HOLD_BYTES]);
  const dup = (n) => hostile(`dup-${n / 1000}k`, ['--dup', n, DUP_TOTAL], DUP_TOTAL / 10);
  const T = {
    bulk: bulk(400000),
    bulk100: bulk(100000),
    bulk25: bulk(25000),
    hard: tracePlan('hard', path.join(BENCH, 'gen-hard.mjs'), { conns: 3000, concurrent: 300, seed: 1 },
      (out) => [process.execPath, [path.join(BENCH, 'gen-hard.mjs'), out, '3000', '300', '1']], 40000),
    syn: syn(1000000),
    syn10k: syn(10000),
    // 5 M SYNs with a legitimate connection 2 s in, and 5 M ACKs (full records).
    flood5m: tracePlan('synflood-5m-legit', FLOOD, { n: 5e6, generator: fs.readFileSync(shared('gen-synflood.py'), 'utf8') },
      (out) => ['sh', ['-c', `"${py}" "${shared('gen-synflood.py')}" "${out}.syn" 5000000 && "${py}" "${FLOOD}" splice "${out}.syn" "${out}" 2 && rm "${out}.syn"`]], 5e6 / 10),
    ack5m: tracePlan('ackflood-5m', FLOOD, { n: 5e6 }, (out) => [py, [FLOOD, 'ack', out, '5000000']], 5e6 / 12),
    holdSmall: hold(HOLD_CONNS[0]),
    holdBig: hold(HOLD_CONNS[1]),
    dup: Object.fromEntries(DUP_SIZES.map((n) => [n, dup(n)])),
    storm: hostile('storm', ['--storm', STORM.conns, STORM.segments, STORM.copies], 100000),
    tiny: hostile('tiny', ['--tiny', TINY.conns, TINY.segments, TINY.window], 200000),
  };
  const needs = {
    bulk: [T.bulk], scaling: [T.bulk25, T.bulk100], hard: [T.hard], flood: [T.syn, T.syn10k, T.flood5m, T.ack5m], memory: [T.holdSmall, T.holdBig],
    hostile: [...Object.values(T.dup), T.storm, T.tiny], nats: [T.bulk, T.bulk100],
  };
  await step('inputs: generate or reuse traces', () => materialize([...new Set(SECTIONS.filter(want).flatMap((name) => needs[name] ?? []))]));

  // -- 1. The bulk trace: floor, native, full stack, the CLI, node_pcap; the correctness gate.
  const B = want('bulk') ? await step(`bulk-400k: floor, native, full stack, CLI, node_pcap (best of ${BIG_ROUNDS}, interleaved)`, async () => {
    // An untimed read warms the page cache and counts the packets (which
    // the CLI does not print).
    const bulkPackets = (await floor(T.bulk.file))?.packets ?? NaN;
    const compare = args.compareCli;
    return interleaved(BIG_ROUNDS, {
      floor: () => floor(T.bulk.file),
      nativeDefault: () => native(T.bulk.file),
      nativeAll: () => native(T.bulk.file, { events: 'all', contents: true }),
      fullDefault: () => full(T.bulk.file),
      fullAll: () => full(T.bulk.file, { events: 'all', ...CONTENTS_ALL }),
      cliNdjson: () => cli(T.bulk.file, [], bulkPackets),
      cliConn: () => cli(T.bulk.file, ['--format', 'conn'], bulkPackets),
      ...(compare ? {
        compareNdjson: { run: () => cli(T.bulk.file, [], bulkPackets, compare), rounds: 1 },
        compareConn: { run: () => cli(T.bulk.file, ['--format', 'conn'], bulkPackets, compare), rounds: 1 },
      } : {}),
      ...(havePcap ? { nodePcap: { run: () => nodePcap(T.bulk.file), rounds: 1 } } : {}),
    });
  }) : null;
  const fl = B?.floor;
  const vs = (x) => (x && fl ? pct(x.packetsPerSecond / fl.packetsPerSecond) : 'n/a');
  if (B) bulkRows(B, vs, havePcap);

  // -- 2b. Workers: one file over several engines
  if (want('workers')) await step(`workers: bulk-400k with 1, 2 and 4 workers (best of ${BIG_ROUNDS}, interleaved)`, async () => {
    const packets = fl?.packets ?? B.nativeDefault?.packets ?? 0;
    const W = await interleaved(BIG_ROUNDS, {
      full2: () => full(T.bulk.file, { workers: 2 }),
      full4: () => full(T.bulk.file, { workers: 4 }),
      cli1: () => cli(T.bulk.file, [], packets),
      cli2: () => cli(T.bulk.file, ['--workers', '2'], packets),
      cli4: () => cli(T.bulk.file, ['--workers', '4'], packets),
      seq1: () => native(T.bulk.file, { workers: 1 }),
      seq2: () => native(T.bulk.file, { workers: 2 }),
    }, [T.bulk.file]);
    const speedup = (x, base) => (x && base ? `${(x.packetsPerSecond / base.packetsPerSecond).toFixed(2)}×` : 'n/a');
    const line = (one, two, four) => [one, two, four].map((x) => (x ? `${M(x.packetsPerSecond)}` : '–')).join(' / ');
    row('workers, full stack → for await, default events: M pkts/s with 1 / 2 / 4', 'bulk-400k',
      `${line(B.fullDefault, W.full2, W.full4)} (2: ${W.full2 ? timing(W.full2) : '–'}; RSS ${mibKB(W.full2)})`,
      `2 workers ${vs(W.full2)}`, '', `1→2: ${speedup(W.full2, B.fullDefault)}`);
    row('workers, CLI → NDJSON to /dev/null, default events: M pkts/s with 1 / 2 / 4', 'bulk-400k',
      `${line(W.cli1, W.cli2, W.cli4)} (1: ${W.cli1 ? timing(W.cli1) : '–'})`, `2 workers ${vs(W.cli2)}`, '', `1→2: ${speedup(W.cli2, W.cli1)}`);
    if (W.seq1 && W.seq2 && B.nativeDefault) {
      const one = B.nativeDefault.seconds;
      row('cost of sharding, one thread (native, default events): dispatch (decode + copy), and each worker walking every frame', 'bulk-400k',
        `one engine ${secs(one)} s; dispatcher + 1 worker ${secs(W.seq1.seconds)} s (dispatch ${secs(W.seq1.dispatchSeconds)} s); ` +
        `dispatcher + 2 workers in turn ${secs(W.seq2.seconds)} s (dispatch ${secs(W.seq2.dispatchSeconds)} s)`,
        '', '', `per extra worker +${pct((W.seq2.seconds - W.seq1.seconds) / one)} of one engine`);
    }
  });

  // -- 3. The hard trace
  if (want('hard')) await step(`hard trace: floor, native, full stack (best of ${SMALL_ROUNDS})`, async () => {
    const H = await interleaved(SMALL_ROUNDS, {
      floor: () => floor(T.hard.file),
      nativeDefault: () => native(T.hard.file),
      nativeAll: () => native(T.hard.file, { events: 'all', contents: true }),
      fullDefault: () => full(T.hard.file),
      fullAll: () => full(T.hard.file, { events: 'all', ...CONTENTS_ALL }),
    }, [T.hard.file]);
    const hv = (x) => (x && H.floor ? pct(x.packetsPerSecond / H.floor.packetsPerSecond) : 'n/a');
    row('floor', 'hard', H.floor ? `${rate(H.floor.packetsPerSecond)} pkts (${secs(H.floor.seconds)} s)` : 'FAILED', '100%');
    row('native core, default events', 'hard', res(H.nativeDefault, true), hv(H.nativeDefault));
    row('native core, all events + contents', 'hard', res(H.nativeAll, true), hv(H.nativeAll));
    row('full stack, default events', 'hard', res(H.fullDefault, true), hv(H.fullDefault));
    row('full stack, all events + contents', 'hard', res(H.fullAll, true), hv(H.fullAll));
  });

  // -- 4. Linearity
  if (want('scaling')) await step(`scaling: bulk with 25k and 100k connections (best of ${SMALL_ROUNDS})`, async () => {
    const S = {};
    for (const [label, plan] of [['25k', T.bulk25], ['100k', T.bulk100]]) {
      S[label] = await interleaved(SMALL_ROUNDS, {
        floor: () => floor(plan.file),
        nativeDefault: () => native(plan.file),
        fullDefault: () => full(plan.file),
      }, [plan.file]);
    }
    S['400k'] = B;
    const line = (k) => ['25k', '100k', '400k'].map((n) => (S[n][k] ? M(S[n][k].packetsPerSecond) : '–')).join(' / ');
    const ratio = (k) => (S['25k'][k] && S['400k'][k] ? S['400k'][k].packetsPerSecond / S['25k'][k].packetsPerSecond : 0);
    row('scaling, M pkts/s at 25k / 100k / 400k connections (1× / 4× / 16×)', 'bulk-*',
      `floor ${line('floor')}; native ${line('nativeDefault')}; full stack ${line('fullDefault')}`,
      `16×/1×: native ${pct(ratio('nativeDefault'))}, full ${pct(ratio('fullDefault'))}`,
      'linear (16×/1× ≥ 80%)', met(ratio('nativeDefault') >= 0.8 && ratio('fullDefault') >= 0.8));
  });

  // -- 5. Memory per connection: idle half-open ones and floods (maxConnections), held reassembly data
  if (want('flood')) await floodSteps(T);
  if (want('memory')) await step('memory: held reassembly data', async () => {
    const [small, big] = HOLD_CONNS;
    const hold = await interleaved(1, {
      nativeSmall: () => native(T.holdSmall.file, { events: MEMORY_EVENTS, contents: true }),
      fullSmall: () => full(T.holdSmall.file, { events: MEMORY_EVENTS, ...CONTENTS_ALL }),
      native: () => native(T.holdBig.file, { events: MEMORY_EVENTS, contents: true }),
      full: () => full(T.holdBig.file, { events: MEMORY_EVENTS, ...CONTENTS_ALL }),
    });
    const hn = per2(hold.native, hold.nativeSmall, big - small);
    const hf = per2(hold.full, hold.fullSmall, big - small);
    const f = hold.full;
    const reasm = !f ? 'n/a'
      : f.statsLive ? `peak reassemblyBytes ${mib(f.peak.reassemblyBytes)} (${(f.peak.reassemblyBytes / big).toFixed(0)} B/conn)`
      : 'reassemblyBytes not observable (stats() not updated while reading a file)';
    row(`bytes of RSS per connection holding ${HOLD_BYTES} B above a hole: (RSS(${big / 1000}k) − RSS(${small / 1000}k)) / ${(big - small) / 1000}k`, `hold-${big / 1000}k`,
      `native ${hn.toFixed(0)} B, full stack ${hf.toFixed(0)} B (peak RSS ${mibKB(hold.native)} / ${mibKB(f)}); ${reasm}; reassemblyDroppedBytes ${f?.final.reassemblyDroppedBytes ?? 'n/a'}`,
      '', `payload ${HOLD_BYTES} B + state`, '');
  });

  // -- 6. Conformance corpus
  if (want('conformance')) await step(`conformance traces: packets/s over all of them (best of ${SMALL_ROUNDS})`, async () => {
    const manifest = path.join(CONFORMANCE, 'manifest.json');
    if (!fs.existsSync(manifest)) {
      skipped.push(`conformance traces: none at ${CONFORMANCE}`);
      row('conformance corpus', '–', 'skipped: no corpus', '', '', 'n/a');
      return;
    }
    const entries = JSON.parse(fs.readFileSync(manifest, 'utf8')).entries
      .filter((e) => !e.args && !e.connArgs)
      .map((e) => ({ file: path.join(CONFORMANCE, e.trace), ignoreChecksums: e.variant === 'ignore_checksums' }))
      .filter((e) => fs.existsSync(e.file));
    const files = [...new Set(entries.map((e) => e.file))];
    const sum = async (list, fn) => {
      const out = { packets: 0, seconds: 0, failed: 0, rssKB: 0 };
      for (const e of list) {
        const r = await fn(e);
        if (!r) {
          out.failed++;
          continue;
        }
        out.packets += r.packets;
        out.seconds += r.seconds;
        out.rssKB = Math.max(out.rssKB, r.rssKB);
      }
      out.packetsPerSecond = out.packets / out.seconds;
      return out;
    };
    const C = await interleaved(SMALL_ROUNDS, {
      floor: () => sum(files, (e) => floor(e)),
      native: () => sum(entries, (e) => native(e.file, { events: 'all', contents: true, ignoreChecksums: e.ignoreChecksums })),
      full: () => full(entries, { events: 'all', ...CONTENTS_ALL }),
    });
    const per = (x) => (x ? `${rate(x.packetsPerSecond)} pkts (${secs(x.seconds)} s${x.failed ? `, ${x.failed} files failed` : ''})` : 'FAILED');
    // The floor reads each trace once; the others read it once per variant.
    const floorPps = C.floor?.packetsPerSecond;
    row(`conformance corpus: ${entries.length} runs over ${files.length} traces, all events + contents`, 'conformance',
      `floor ${per(C.floor)}; native ${per(C.native)}; full stack ${per(C.full)} (in one process, opens included)`,
      floorPps ? `native ${pct(C.native.packetsPerSecond / floorPps)}, full ${pct(C.full.packetsPerSecond / floorPps)}` : '');
  });

  // -- 7. Hostile traffic
  if (want('hostile')) await hostileSection(T);

  if (want('nats')) await natsSteps(T);

  report();
  return gate.failures.length === 0;
}

// ---------------------------------------------------------------------------
// The NATS JetStream sink (bench/nats-publish.mjs against a real nats-server)

/** A nats-server with JetStream on loopback, its own port and a fresh store; `stop()` removes it. */
async function natsServer() {
  const store = fs.mkdtempSync(path.join(os.tmpdir(), 'tcpsensor-bench-nats-'));
  const { child, port } = await launchNatsServer(-1, store);
  // utime + stime of each of the broker's threads, in seconds (clock
  // ticks of 10 ms): the busiest one is its most serial stage.
  const threadSeconds = () => {
    const seconds = new Map();
    for (const tid of fs.readdirSync(`/proc/${child.pid}/task`)) {
      const stat = fs.readFileSync(`/proc/${child.pid}/task/${tid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      seconds.set(tid, (Number(f[11]) + Number(f[12])) / 100);
    }
    return seconds;
  };
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
    fs.rmSync(store, { recursive: true, force: true });
  };
  return { url: `nats://127.0.0.1:${port}`, threadSeconds, stop };
}

/** One measurement of nats-publish.mjs with a broker of its own; null if it failed. */
async function natsPublish(file, mode, { window = 4096, profile = false } = {}) {
  const server = await natsServer();
  try {
    const before = server.threadSeconds();
    const r = await run(process.execPath, [NATS_PUBLISH, JSON.stringify({ url: server.url, file, mode, window, profile })]);
    const used = [...server.threadSeconds()].map(([tid, s]) => s - (before.get(tid) ?? 0));
    if (r.code !== 0) return null;
    const out = JSON.parse(r.stdout.trim().split('\n').pop());
    const res = { ...out, brokerSeconds: used.reduce((a, b) => a + b, 0), brokerThreadSeconds: Math.max(...used), rssKB: r.rssKB };
    log(`   ${mode.padEnd(11)} window ${String(window).padEnd(6)} ${secs(res.seconds)} s  ${(res.eventsPerSecond / 1000).toFixed(1)} k events/s  CPU: ours ${res.cpuSeconds.toFixed(2)} s (main thread ${res.mainThreadSeconds.toFixed(2)} s), nats-server ${res.brokerSeconds.toFixed(2)} s (busiest thread ${res.brokerThreadSeconds.toFixed(2)} s)${profile ? ' (profiled)' : ''}`);
    return res;
  } finally {
    await server.stop();
  }
}

/**
 * The connection table under floods (bench/README.md, "Floods"): bytes per
 * idle half-open connection; 5 M SYNs, all kept, then past the default
 * maxConnections and past 1 M, with a legitimate connection in the middle
 * whose events must come out; 5 M ACKs (full records) past 1 M.
 */
async function floodSteps(T) {
  const { defaultMaxConnections, CONNECTION_BYTES } = await import('../dist/index.mjs');
  const defaultMax = defaultMaxConnections();
  const bound = (max) => max * CONNECTION_BYTES + MAX_REASSEMBLY_BYTES + MAX_FRAGMENT_BYTES + 256 * 1048576;
  const fmt = (n) => n.toLocaleString('en-US');
  const LEGIT_EVENTS = ['connection_established', 'connection_finished', 'tcp_contents'];
  // The CLI's events of the legitimate connection (192.0.2.10), in order.
  const legitLines = (r) => (r?.stdout ?? '').split('\n').filter(Boolean).map((l) => JSON.parse(l))
    .filter((e) => e.id.orig_h === '192.0.2.10').map((e) => e.event).join(',');
  const legitOk = {
    native: (r) => r?.counts.connection_established === 1 && r?.counts.connection_finished === 1 && r?.counts.tcp_contents === 3,
    cli: (r) => legitLines(r) === 'connection_established,tcp_contents,tcp_contents,tcp_contents,connection_finished',
    full: (r) => r?.counts.connection_established === 1 && r?.counts.connection_finished === 1 && r?.counts.tcp_contents === 3,
  };
  const says = (ok) => (ok ? 'established, 3 × contents, finished' : '**lost**');

  await step('floods: idle half-open connections (1 M SYNs against 10 k)', async () => {
    const pick = (file) => ({
      native: () => native(file),
      cli: () => cli(file, ['--events', 'connection_established']),
      full: () => full(file),
    });
    const base = await interleaved(1, pick(T.syn10k.file));
    const syn = await interleaved(1, pick(T.syn.file));
    const per = (k) => per2(syn[k], base[k], 1000000 - 10000);
    const [pn, pc, pf] = [per('native'), per('cli'), per('full')];
    row('bytes of RSS per idle (half-open) connection: (RSS(1M SYNs) − RSS(10k SYNs)) / 990k', 'synflood-1m',
      `native ${pn.toFixed(0)} B (peak RSS ${mibKB(syn.native)}); CLI, an event half-open connections never raise, ${pc.toFixed(0)} B (${mibKB(syn.cli)}); ` +
      `full stack, default events, ${pf.toFixed(0)} B (${mibKB(syn.full)}; longest event-loop gap ${ms(syn.full)})`,
      '', '≤ 256 B native and CLI', met(pn <= 256 && pc <= 256));
  });

  await step('floods: 5 M SYNs with a legitimate connection, all kept, past the default maxConnections and past 1 M', async () => {
    const all = 1 << 23;
    const kept = await interleaved(1, {
      native: () => native(T.flood5m.file, { contents: true, maxConnections: all }),
      cli: () => cli(T.flood5m.file, ['--max-connections', String(all), '--events', LEGIT_EVENTS.join(','), '--contents', 'all'], 0, CLI, { keep: true }),
    });
    const base = await interleaved(1, { native: () => native(T.syn10k.file), cli: () => cli(T.syn10k.file, ['--events', 'connection_established']) });
    const pn = per2(kept.native, base.native, 5000001 - 10000);
    const pc = per2(kept.cli, base.cli, 5000001 - 10000);
    const okKept = legitOk.native(kept.native) && legitOk.cli(kept.cli);
    row(`SYN flood, 5 M tuples + 1 legitimate connection, all kept (maxConnections ${fmt(all)})`, 'synflood-5m-legit',
      `native peak RSS ${mibKB(kept.native)}, ${pn.toFixed(0)} B/connection, ${fmt(kept.native?.evicted ?? 0)} evicted; ` +
      `CLI ${mibKB(kept.cli)}, ${pc.toFixed(0)} B/connection; legitimate connection: ${says(okKept)}`,
      '', '≤ 256 B/connection', met(pn <= 256 && pc <= 256 && okKept));

    for (const [label, max] of [[`default maxConnections ${fmt(defaultMax)}`, defaultMax], ['maxConnections 1,000,000', 1000000]]) {
      const R = await interleaved(1, {
        native: () => native(T.flood5m.file, { contents: true, maxConnections: max }),
        cli: () => cli(T.flood5m.file, ['--max-connections', String(max), '--events', LEGIT_EVENTS.join(','), '--contents', 'all'], 0, CLI, { keep: true }),
        full: () => full(T.flood5m.file, { maxConnections: max, ...CONTENTS_ALL }),
      });
      const ok = legitOk.native(R.native) && legitOk.cli(R.cli) && legitOk.full(R.full);
      const limit = bound(max);
      const within = [R.native, R.cli, R.full].every((x) => x && x.rssKB * 1024 <= limit);
      row(`SYN flood, 5 M tuples + 1 legitimate connection, ${label}`, 'synflood-5m-legit',
        `native peak RSS ${mibKB(R.native)}, ${fmt(R.native?.evicted ?? 0)} evicted; CLI ${mibKB(R.cli)}; ` +
        `full stack (default events) ${mibKB(R.full)}, ${fmt(R.full?.final.connectionsEvicted ?? 0)} evicted, longest event-loop gap ${ms(R.full)}; ` +
        `legitimate connection: ${says(ok)}`,
        '', `RSS ≤ ${mib(limit)} (maxConnections × ${CONNECTION_BYTES} B + reassembly + fragments + 256 MiB); legitimate connection whole`,
        met(within && ok));
    }
  });

  await step('floods: 5 M ACKs (full records) past maxConnections 1 M', async () => {
    const max = 1000000;
    const R = await interleaved(1, {
      native: () => native(T.ack5m.file, { maxConnections: max }),
      cli: () => cli(T.ack5m.file, ['--max-connections', String(max), '--events', 'connection_established']),
    });
    const limit = bound(max);
    row('ACK flood, 5 M tuples (one-sided full records), maxConnections 1,000,000', 'ackflood-5m',
      `native peak RSS ${mibKB(R.native)}, ${fmt(R.native?.evicted ?? 0)} evicted (${R.native ? secs(R.native.seconds) : '–'} s); CLI ${mibKB(R.cli)}`,
      '', `RSS ≤ ${mib(limit)}`, met([R.native, R.cli].every((x) => x && x.rssKB * 1024 <= limit)));
  });
}

async function natsSteps(T) {
  await step('nats: default events published into a JetStream stream, all acknowledged', async () => {
    if (spawnSync('nats-server', ['--version']).error) {
      skipped.push('NATS JetStream sink: nats-server is not installed (Debian package nats-server)');
      row('NATS JetStream sink', 'bulk-400k', 'skipped: no nats-server', '', '', 'n/a');
      return;
    }
    const kEvents = (r) => (r ? `${(r.eventsPerSecond / 1000).toFixed(1)} k events/s` : 'FAILED');
    const us = (s, r) => ((s / r.messages) * 1e6).toFixed(1);
    const cpu = (r) => `CPU per event: tcpsensor ${us(r.cpuSeconds, r)} µs (its main thread ${us(r.mainThreadSeconds, r)} µs), nats-server ${us(r.brokerSeconds, r)} µs (its busiest thread ${us(r.brokerThreadSeconds, r)} µs)`;
    const e2e = await natsPublish(T.bulk.file, 'sensor');
    row('NATS JetStream sink: default events, end to end (open → last acknowledgement), window 4096, file storage, loopback', 'bulk-400k',
      e2e ? `${kEvents(e2e)} (${e2e.messages.toLocaleString('en-US')} events in ${secs(e2e.seconds)} s, all acknowledged); ${cpu(e2e)}; RSS ${mib(e2e.rssKB * 1024)}` : 'FAILED');

    // What limits it: a window 16 times larger (latency?), the lines
    // rendered beforehand (capture and rendering out of the way), the
    // official publish path (client cost), and where the main thread's
    // time goes.
    const base = await natsPublish(T.bulk100.file, 'sensor');
    const wide = await natsPublish(T.bulk100.file, 'sensor', { window: 65536 });
    const pre = await natsPublish(T.bulk100.file, 'prerendered');
    const js = await natsPublish(T.bulk100.file, 'jetstream');
    const prof = await natsPublish(T.bulk100.file, 'sensor', { profile: true });
    if (!base || !wide || !pre || !js || !prof) {
      row('NATS JetStream sink: what limits it', 'bulk-100k', 'FAILED (see the log)');
      return;
    }
    const parts = Object.entries(prof.profile).filter(([k]) => k !== 'idle').map(([k, v]) => `${k} ${(100 * v).toFixed(0)}%`).join(', ');
    // The slowest serial stage limits a pipeline: our main thread (client,
    // rendering and sink on one thread) or the broker's busiest thread.
    const mainUs = us(base.mainThreadSeconds, base);
    const brokerUs = us(base.brokerThreadSeconds, base);
    const [top] = Object.entries(prof.profile).filter(([k]) => ['NATS client', 'rendering', 'sink', 'sensor'].includes(k)).sort((a, b) => b[1] - a[1]);
    let bottleneck;
    if (wide.eventsPerSecond > 1.15 * base.eventsPerSecond) bottleneck = 'the round trip: a larger window is faster';
    else if (Number(mainUs) < Number(brokerUs)) bottleneck = `the broker: its busiest thread spends ${brokerUs} µs per event, our main thread ${mainUs} µs`;
    else bottleneck = `${top[0] === 'NATS client' ? 'the client' : 'ours'}: our main thread spends ${mainUs} µs per event, the broker's busiest thread ${brokerUs} µs; ${top[0]} is the largest part of it`;
    row('NATS JetStream sink: what limits it (one run each)', 'bulk-100k',
      `end to end ${kEvents(base)} (${cpu(base)}); window 65536 ${kEvents(wide)}; pre-rendered lines ${kEvents(pre)} (main thread ${us(pre.mainThreadSeconds, pre)} µs/event); ` +
      `official jetstream().publish() on the same lines ${kEvents(js)} (main thread ${us(js.mainThreadSeconds, js)} µs/event); ` +
      `main thread of the end-to-end run (profiled): ${parts}. Bottleneck: ${bottleneck}`);
  });
}

// ---------------------------------------------------------------------------
// The report

function git(...a) {
  const r = spawnSync('git', a, { cwd: ROOT, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : '';
}

function machine() {
  const cpuinfo = fs.existsSync('/proc/cpuinfo') ? fs.readFileSync('/proc/cpuinfo', 'utf8') : '';
  const model = /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model ?? 'unknown CPU';
  return `${model.trim()}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ${os.type()} ${os.release()}; ` +
    `load average (1 min) ${loadAtStart.toFixed(1)} at the start, ${os.loadavg()[0].toFixed(1)} at the end`;
}

function table() {
  const head = ['Measurement', 'Trace', 'Result (best run)', 'vs floor', 'Target', 'Status'];
  const esc = (s) => String(s).replace(/\|/g, '\\|');
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of rows) lines.push(`| ${[r.measurement, r.trace, r.result, r.vsFloor, r.target, r.status].map(esc).join(' | ')} |`);
  return lines.join('\n');
}

function report() {
  const elapsed = (Date.now() - t0) / 1000;
  const commit = git('rev-parse', '--short', 'HEAD');
  // RESULTS.md itself is no change to what is measured.
  const dirty = git('status', '--porcelain', '--untracked-files=no', '--', '.', ':!bench/RESULTS.md') ? ' (with uncommitted changes)' : '';
  const branch = git('rev-parse', '--abbrev-ref', 'HEAD');
  const libpcap = spawnSync(FLOOR, ['--version'], { encoding: 'utf8' }).stdout.trim();
  const quote = (a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`);
  const extra = process.argv.slice(2).map(quote).join(' ');
  const command = `npm run bench${extra ? ` -- ${extra}` : ''}`;
  const when = new Date().toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
  const title = `## ${when}${args.label ? ` — ${args.label}` : ''}${args.quick ? ' (quick)' : ''}`;
  const steps = stepTimes.map(([n, s]) => `${n} ${s.toFixed(0)} s`).join('; ');
  const md = [
    title,
    '',
    `- Machine: ${machine()}`,
    `- Commit: ${commit}${dirty} on ${branch}; Node ${process.version}; ${libpcap || 'libpcap'}`,
    `- Command: \`${command}\` — took ${(elapsed / 60).toFixed(1)} min`,
    args.natsOnly
      ? '- Rounds: one run per measurement, each with a fresh nats-server of its own'
      : args.only?.size === 1 && args.only.has('flood')
      ? '- Rounds: one run per measurement (peak RSS, not time, is what these rows measure)'
      : `- Rounds: best of ${BIG_ROUNDS} on bulk-400k, of ${SMALL_ROUNDS} on the smaller traces, contenders interleaved, page cache warm${want('nats') ? '; the NATS rows one run each' : ''}`,
    '',
    table(),
    '',
    `Step times: ${steps}.`,
    ...(gate.failures.length ? ['', `**Correctness gate failed**: ${gate.failures.join(' | ')}`] : []),
    ...skipped.map((s) => `\nSkipped: ${s}`),
    ...notes.map((s) => `\nNote: ${s}`),
    '',
  ].join('\n');
  process.stdout.write(`\n${md}\n`);
  if (args.record) {
    const results = path.join(BENCH, 'RESULTS.md');
    if (!fs.existsSync(results)) {
      fs.writeFileSync(results, '# Benchmark results\n\nAppended by `npm run bench` (see README.md for what each row means), newest last.\n\n');
    }
    fs.appendFileSync(results, `${md}\n`);
    log(`appended to ${path.relative(process.cwd(), results)}`);
  }
}

main().then(
  (ok) => {
    log(`\nbench finished in ${((Date.now() - t0) / 60000).toFixed(1)} min${ok ? '' : ' — CORRECTNESS GATE FAILED'}`);
    process.exit(ok ? 0 : 1);
  },
  (err) => {
    console.error(`bench: ${err.stack ?? err}`);
    process.exit(2);
  },
);
