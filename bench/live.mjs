#!/usr/bin/env node
/**
 * npm run bench:live [-- --loops N] [-- --rates 200000,top] [-- --label TEXT] [-- --no-record]
 *
 * Live capture at line rate, measured: two network namespaces' worth of
 * link (a veth pair, the replay end inside a namespace), `tcpreplay` of the
 * bulk trace (20,000 connections, looped to at least 2 M packets) at each
 * rate, captured side by side in one run by tcpdump -w /dev/null and by
 * tcpsensor (the public API in a for-await loop, bench/live-capture.mjs)
 * with default events (one worker and two, a PACKET_FANOUT group) and with
 * every event and all contents. Prints one
 * table (sent, received by filter, captured, kernel and queue drops,
 * events, event latency from the wire to for-await, CPU) and appends it to
 * bench/RESULTS.md. Needs root, iproute2, tcpreplay and tcpdump; says why
 * and exits 0 otherwise.
 */
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const WORK = path.join(ROOT, 'bench', '.work');
const INPUTS = process.env.TCPSENSOR_BENCH_INPUTS ?? path.resolve(ROOT, '..', 'shared', 'bench');

function parseArgs(argv) {
  const a = { loops: 8, rates: ['200000', 'top'], label: '', record: true, contenders: null };
  for (let i = 0; i < argv.length; i++) {
    const next = () => argv[++i];
    switch (argv[i]) {
      case '--loops': a.loops = Number(next()); break;
      case '--rates': a.rates = next().split(','); break;
      case '--label': a.label = next(); break;
      case '--only': a.contenders = next().split(','); break;
      case '--no-record': a.record = false; break;
      default: throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  return a;
}
const args = parseArgs(process.argv.slice(2));

function whyNot() {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, live capture)';
  for (const [cmd, pkg] of [['ip', 'iproute2'], ['tcpreplay', 'tcpreplay'], ['tcpdump', 'tcpdump']]) {
    if (spawnSync(cmd, ['--version']).error && spawnSync(cmd, ['-V']).error) return `needs ${cmd} (Debian package ${pkg})`;
  }
  if (!fs.existsSync(path.join(ROOT, 'dist', 'index.mjs'))) return 'build first (npm run build:ts)';
  return null;
}

const why = whyNot();
if (why) {
  console.log(`bench:live skipped: ${why}`);
  process.exit(0);
}

const log = (...m) => console.error(`[bench:live] ${m.join(' ')}`);
const ip = (...a) => execFileSync('ip', a, { stdio: ['ignore', 'pipe', 'pipe'] });
const NS = `tsbench${process.pid}`;
const CAP = `tsbc${process.pid % 100000}`;
const REPLAY = `tsbr${process.pid % 100000}`;

function setup() {
  ip('netns', 'add', NS);
  ip('link', 'add', CAP, 'type', 'veth', 'peer', 'name', REPLAY);
  ip('link', 'set', REPLAY, 'netns', NS);
  // No addresses, no IPv6: the link carries the replay and nothing else.
  spawnSync('sysctl', ['-q', '-w', `net.ipv6.conf.${CAP}.disable_ipv6=1`]);
  spawnSync('ip', ['netns', 'exec', NS, 'sysctl', '-q', '-w', `net.ipv6.conf.${REPLAY}.disable_ipv6=1`]);
  ip('link', 'set', CAP, 'up');
  ip('-n', NS, 'link', 'set', REPLAY, 'up');
}

function teardown() {
  spawnSync('ip', ['link', 'del', CAP]);
  spawnSync('ip', ['netns', 'del', NS]);
}

function trace() {
  const file = path.join(WORK, 'traces', 'bulk-20k.pcap');
  if (!fs.existsSync(file)) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    log('generating bulk-20k (20,000 connections)');
    execFileSync('python3', [path.join(INPUTS, 'gen-bulk.py'), file, '20000'], { stdio: 'inherit' });
  }
  return file;
}

function start(cmd, argv) {
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  const out = { stdout: '', stderr: '' };
  child.stdout.on('data', (d) => (out.stdout += d));
  child.stderr.on('data', (d) => (out.stderr += d));
  const closed = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  return { child, out, closed };
}

async function waitFor(check, ms, what) {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const CONTENDERS = {
  tcpdump: {
    label: 'tcpdump -w /dev/null',
    start: () => start('tcpdump', ['-i', CAP, '-n', '-w', '/dev/null']),
    ready: (p) => p.out.stderr.includes('listening on'),
    result: (p) => {
      const n = (re) => Number(re.exec(p.out.stderr)?.[1] ?? NaN);
      return {
        captured: n(/(\d+) packets? captured/),
        byFilter: n(/(\d+) packets? received by filter/),
        kernelDrops: n(/(\d+) packets? dropped by kernel/),
        queueDrops: 0,
        events: null,
        latency: null,
      };
    },
  },
  default: {
    label: 'tcpsensor, default events',
    start: () => start(process.execPath, [path.join(ROOT, 'bench', 'live-capture.mjs'), JSON.stringify({ interface: CAP, options: {} })]),
    ready: (p) => p.out.stdout.startsWith('ready'),
    result: sensorResult,
  },
  workers2: {
    label: 'tcpsensor, default events, 2 workers',
    start: () => start(process.execPath, [path.join(ROOT, 'bench', 'live-capture.mjs'), JSON.stringify({ interface: CAP, options: { workers: 2 } })]),
    ready: (p) => p.out.stdout.startsWith('ready'),
    result: sensorResult,
  },
  all: {
    label: 'tcpsensor, all events + contents',
    start: () => start(process.execPath, [path.join(ROOT, 'bench', 'live-capture.mjs'),
      JSON.stringify({ interface: CAP, options: { events: 'all', contentDeliverAllOrig: true, contentDeliverAllResp: true } })]),
    ready: (p) => p.out.stdout.startsWith('ready'),
    result: sensorResult,
  },
};

function sensorResult(p) {
  const line = p.out.stdout.split('\n').filter(Boolean).at(-1);
  const r = JSON.parse(line);
  return {
    captured: r.packetsReceived,
    byFilter: r.packetsReceivedByFilter,
    kernelDrops: r.packetsDroppedByKernel,
    queueDrops: r.eventsDroppedByQueue,
    events: r.events,
    latency: r.latencyMs,
    queuedPeak: r.queuedBytesPeak,
    perWorker: r.workers,
  };
}

async function replay(file, rate) {
  const speed = rate === 'top' ? ['--topspeed'] : [`--pps=${rate}`];
  const r = spawnSync('ip', ['netns', 'exec', NS, 'tcpreplay', '-q', '-K', `--loop=${args.loops}`, ...speed, '-i', REPLAY, file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tcpreplay failed: ${r.stderr}`);
  const text = r.stdout + r.stderr;
  const sent = Number(/Actual: (\d+) packets/.exec(text)?.[1] ?? NaN);
  const seconds = Number(/Actual: \d+ packets \(\d+ bytes\) sent in ([\d.]+) seconds/.exec(text)?.[1] ?? NaN);
  const pps = Number(/Rated: [\d.]+ Bps, [\d.]+ Mbps, ([\d.]+) pps/.exec(text)?.[1] ?? NaN);
  const failed = Number(/Failed packets:\s+(\d+)/.exec(text)?.[1] ?? 0);
  return { sent, seconds, pps, failed };
}

async function run(file, rate, name) {
  const c = CONTENDERS[name];
  const p = c.start();
  await waitFor(() => c.ready(p) || p.child.exitCode !== null, 20000, `${name} to start`);
  if (p.child.exitCode !== null) throw new Error(`${name} exited: ${p.out.stderr}`);
  const cpu0 = cpuTicks(p.child.pid);
  const sent = await replay(file, rate);
  // Whatever is still in flight reaches the ring within a block timeout.
  await new Promise((r) => setTimeout(r, 300));
  const cpu1 = cpuTicks(p.child.pid);
  const stopAt = performance.now();
  p.child.kill('SIGINT');
  await p.closed;
  const stopMs = performance.now() - stopAt;
  return { rate, name, sent, ...c.result(p), cpu: cpu1 !== null && cpu0 !== null ? (cpu1 - cpu0) / 100 / sent.seconds : null, stopMs };
}

function cpuTicks(pid) {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    // After the command name: utime and stime are the 12th and 13th fields.
    return Number(f[11]) + Number(f[12]);
  } catch {
    return null;
  }
}

const fmt = (n) => (n === null || n === undefined || Number.isNaN(n) ? '' : n.toLocaleString('en-US'));
const k = (n) => `${(n / 1000).toFixed(0)} k/s`;

async function main() {
  const file = trace();
  const names = args.contenders ?? Object.keys(CONTENDERS);
  setup();
  const results = [];
  try {
    for (const rate of args.rates) {
      for (const name of names) {
        log(`rate ${rate}: ${CONTENDERS[name].label}`);
        const r = await run(file, rate, name);
        log(`  sent ${fmt(r.sent.sent)} at ${k(r.sent.pps)}; captured ${fmt(r.captured)}; kernel drops ${fmt(r.kernelDrops)}; queue drops ${fmt(r.queueDrops)}`);
        results.push(r);
      }
    }
  } finally {
    teardown();
  }

  // close() on an idle link: how long the call takes, one engine and two.
  const closeMs = {};
  setup();
  try {
    for (const workers of [1, 2]) {
      const code = `
        import('${path.join(ROOT, 'dist', 'index.mjs')}').then(async ({ open }) => {
          const times = [];
          for (let i = 0; i < 5; i++) {
            const s = open({ interface: '${CAP}' }, { workers: ${workers} });
            const reading = (async () => { for await (const _ of s); })();
            await new Promise((r) => setTimeout(r, 300));
            const t0 = performance.now();
            s.close();
            times.push(performance.now() - t0);
            await reading;
          }
          console.log(JSON.stringify(times));
        });`;
      const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8' });
      closeMs[workers] = r.status === 0 ? JSON.parse(r.stdout) : null;
    }
  } finally {
    teardown();
  }

  const lines = [];
  const when = new Date().toISOString().replace('T', ' ').slice(0, 19);
  const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim();
  lines.push(`## ${when} UTC — bench:live${args.label ? `: ${args.label}` : ''}`, '');
  lines.push(`- Machine: ${os.cpus()[0]?.model ?? '?'}, ${os.cpus().length} cores (the sender, tcpreplay, shares them), Linux ${os.release()}; load average ${os.loadavg()[0].toFixed(1)} at the end`);
  lines.push(`- Commit: ${commit}; Node ${process.version}`);
  lines.push(`- Command: \`npm run bench:live${process.argv.length > 2 ? ' -- ' + process.argv.slice(2).join(' ') : ''}\``);
  lines.push(`- Trace: bulk-20k (${fmt(259800)} packets, 20,000 connections) replayed ${args.loops} times by tcpreplay from inside a network namespace onto a veth pair; captured on the other end`);
  lines.push('');
  lines.push('| Rate asked | Capturer | Sent (rate reached) | Received by filter | Captured | Dropped by kernel | Events dropped by queue | Events | Latency wire → for await p50 / p99 / max | CPU of capturer | Stop (SIGINT → exit) |');
  lines.push('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    const lat = r.latency?.p50 != null ? `${r.latency.p50.toFixed(1)} / ${r.latency.p99.toFixed(1)} / ${r.latency.max.toFixed(1)} ms` : '';
    const each = r.perWorker ? ` (per worker: ${r.perWorker.map((w) => `${fmt(w.captured)}, ${fmt(w.kernelDrops)} dropped`).join('; ')})` : '';
    lines.push(`| ${r.rate === 'top' ? 'top speed' : k(Number(r.rate))} | ${CONTENDERS[r.name].label}${each} | ${fmt(r.sent.sent)} (${k(r.sent.pps)}) | ${fmt(r.byFilter)} | ${fmt(r.captured)} | ${fmt(r.kernelDrops)} (${((100 * r.kernelDrops) / Math.max(1, r.byFilter)).toFixed(2)}%) | ${r.queueDrops === null ? '' : fmt(r.queueDrops)} | ${fmt(r.events)} | ${lat} | ${r.cpu !== null ? `${(100 * r.cpu).toFixed(0)}%` : ''} | ${r.stopMs.toFixed(0)} ms |`);
  }
  const worst = (a) => (a ? `${Math.max(...a).toFixed(2)} ms (runs ${a.map((x) => x.toFixed(2)).join(' / ')})` : 'failed');
  lines.push('', `close() on an idle link (5 runs each, worst): one engine ${worst(closeMs[1])}; 2 workers ${worst(closeMs[2])}.`);
  const table = lines.join('\n') + '\n';
  console.log(table);
  if (args.record) fs.appendFileSync(path.join(ROOT, 'bench', 'RESULTS.md'), '\n' + table);
}

main().catch((err) => {
  teardown();
  console.error(err.stack ?? String(err));
  process.exit(1);
});
