#!/usr/bin/env node
// npm run fuzz: builds the fuzz targets (clang, ASan + UBSan, in
// build-fuzz/), makes the seed corpora if they are missing, and runs every
// target of native/fuzz/targets.json for a while. See native/fuzz/README.md.
//
//   npm run fuzz -- [-max_total_time=N] [options] [other libFuzzer flags]
//
//   -max_total_time=N  seconds per target (default 60); any argument with a
//                      single leading '-' goes to libFuzzer as it is
//   --target NAME      only this target (repeatable)
//   --parallel         all targets at once (one process each) instead of in turn
//   --keep-going       after a finding, keep its input and fuzz on for the time left
//   --replay           no fuzzing: run each target over its kept regression inputs
//   --pid-file FILE    the running fuzzers' process ids, one a line
//   --log-dir DIR      libFuzzer's output, DIR/<target>.log (default build-fuzz/logs)
//   --build-dir DIR    default build-fuzz
//
// A timeout whose input runs quickly on its own is not kept: the process
// was stopped (SIGSTOP) under it, which libFuzzer cannot tell from a hang.
// Findings are in build-fuzz/artifacts/<target>/; the exit status is 1 if
// there was any.
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync, createWriteStream } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const flags = [];
const only = [];
let parallel = false;
let keepGoing = false;
let replay = false;
let pidFile;
let logDir;
let buildDir = join(root, 'build-fuzz');
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--target') only.push(argv[++i]);
  else if (a === '--parallel') parallel = true;
  else if (a === '--keep-going') keepGoing = true;
  else if (a === '--replay') replay = true;
  else if (a === '--pid-file') pidFile = resolve(argv[++i]);
  else if (a === '--log-dir') logDir = resolve(argv[++i]);
  else if (a === '--build-dir') buildDir = resolve(argv[++i]);
  else if (/^-[a-z_]+=/.test(a)) flags.push(a);
  else {
    console.error(`fuzz: unknown argument '${a}' (libFuzzer flags look like -name=value)`);
    process.exit(2);
  }
}
logDir ??= join(buildDir, 'logs');
const flagValue = (name) => flags.find((f) => f.startsWith(`-${name}=`))?.split('=')[1];
const totalTime = Number(flagValue('max_total_time') ?? 60);
const unitTimeout = Number(flagValue('timeout') ?? 25);
const passThrough = flags.filter((f) => !/^-(max_total_time|timeout)=/.test(f));

const { targets: allTargets } = JSON.parse(readFileSync(join(root, 'native', 'fuzz', 'targets.json'), 'utf8'));
const targets = allTargets.filter((t) => only.length === 0 || only.includes(t.name));
if (targets.length === 0) {
  console.error(`fuzz: no such target (${allTargets.map((t) => t.name).join(', ')})`);
  process.exit(2);
}

const run = (cmd, args, opts = {}) => {
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...opts });
  if (r.status !== 0) {
    console.error(`fuzz: ${cmd} ${args.join(' ')} failed`);
    process.exit(1);
  }
};

// --- build and seeds ------------------------------------------------------------
if (!existsSync(join(buildDir, 'CMakeCache.txt'))) {
  const werror = process.env.TCPSENSOR_WERROR === '1' ? ['-DTCPSENSOR_WERROR=ON'] : [];
  run('cmake', ['-S', root, '-B', buildDir, '-DCMAKE_BUILD_TYPE=RelWithDebInfo', '-DTCPSENSOR_FUZZ=ON', ...werror], {
    env: { ...process.env, CC: 'clang', CXX: 'clang++' },
  });
}
// Only what fuzzing needs: the targets and the seed tool.
run('cmake', ['--build', buildDir, '-j2', '--target', ...allTargets.map((t) => `fuzz-${t.name}`), 'fuzz-packet-seeds']);
const seedsDir = join(buildDir, 'seeds');
if (!replay && !existsSync(seedsDir)) {
  run(process.execPath, [join(root, 'scripts', 'fuzz-seeds.mjs'), '--out', seedsDir, '--tool', join(buildDir, 'fuzz-packet-seeds')]);
}
mkdirSync(logDir, { recursive: true });

const regressionFiles = (t) => {
  const dir = join(root, 'native', 'fuzz', 'regressions', t.name);
  return existsSync(dir) ? readdirSync(dir).filter((f) => !f.startsWith('.')).sort().map((f) => join(dir, f)) : [];
};

// --- replay -----------------------------------------------------------------------
if (replay) {
  let failed = 0;
  for (const t of targets) {
    const files = regressionFiles(t);
    if (files.length === 0) {
      console.log(`${t.name}: no regression inputs`);
      continue;
    }
    const artifacts = join(buildDir, 'artifacts', t.name);
    mkdirSync(artifacts, { recursive: true });
    const r = spawnSync(join(buildDir, `fuzz-${t.name}`), [`-artifact_prefix=${artifacts}/replay-`, `-timeout=${unitTimeout}`, ...passThrough, ...files], { encoding: 'utf8' });
    writeFileSync(join(logDir, `${t.name}.replay.log`), r.stdout + r.stderr);
    const ok = r.status === 0;
    if (!ok) failed++;
    console.log(`${t.name}: ${files.length} regression inputs ${ok ? 'pass' : `FAIL (see ${join(logDir, `${t.name}.replay.log`)})`}`);
  }
  process.exit(failed ? 1 : 0);
}

// --- fuzzing ----------------------------------------------------------------------
// The pid file is shared with other runs of this script: each adds and
// removes its own lines.
const pidLines = () => (existsSync(pidFile) ? readFileSync(pidFile, 'utf8').split('\n').filter(Boolean) : []);
const addPid = (pid) => pidFile && appendFileSync(pidFile, `${pid}\n`);
const removePid = (pid) => pidFile && writeFileSync(pidFile, pidLines().filter((l) => l !== String(pid)).map((l) => `${l}\n`).join(''));

// CPU seconds a process has used so far (user + system), from /proc.
function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (100 Hz)
  } catch {
    return undefined;
  }
}

function fuzzOnce(t, seconds) {
  const artifacts = join(buildDir, 'artifacts', t.name);
  const corpus = join(buildDir, 'corpus', t.name);
  mkdirSync(artifacts, { recursive: true });
  mkdirSync(corpus, { recursive: true });
  const dict = join(root, 'native', 'fuzz', `${t.dict ?? t.name}.dict`);
  const dirs = [corpus, join(seedsDir, t.name), join(root, 'native', 'fuzz', 'regressions', t.name)].filter(existsSync);
  const args = [
    `-artifact_prefix=${artifacts}/`, `-max_total_time=${seconds}`, `-timeout=${unitTimeout}`, `-max_len=${t.max_len}`,
    '-print_final_stats=1', ...(existsSync(dict) ? [`-dict=${dict}`] : []), ...passThrough, ...dirs,
  ];
  const log = createWriteStream(join(logDir, `${t.name}.log`), { flags: 'a' });
  log.write(`\n=== ${new Date().toISOString()} fuzz-${t.name} ${args.join(' ')}\n`);
  const started = Date.now();
  return new Promise((done) => {
    const child = spawn(join(buildDir, `fuzz-${t.name}`), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    addPid(child.pid);
    let cpu = 0;
    const sampler = setInterval(() => (cpu = cpuSeconds(child.pid) ?? cpu), 5000);
    let text = '';
    const take = (d) => {
      log.write(d);
      text += d;
      if (text.length > 1 << 20) text = text.slice(-(1 << 19)); // the end is what is parsed
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('close', (code) => {
      clearInterval(sampler);
      removePid(child.pid);
      log.end();
      const num = (re) => Number(text.match(re)?.[1] ?? 0);
      const last = [...text.matchAll(/cov: (\d+) ft: (\d+) corp: (\d+)/g)].pop();
      const artifact = text.match(/Test unit written to (\S+)/)?.[1];
      done({
        code,
        wall: (Date.now() - started) / 1000,
        cpu,
        execs: num(/stat::number_of_executed_units: (\d+)/),
        cov: last ? Number(last[1]) : 0,
        ft: last ? Number(last[2]) : 0,
        corpus: last ? Number(last[3]) : 0,
        timeout: /ERROR: libFuzzer: timeout/.test(text),
        interrupted: /libFuzzer: run interrupted/.test(text),
        artifact,
      });
    });
  });
}

// Whether a timed-out input is slow on its own (a real finding).
function reallySlow(t, file) {
  const prefix = join(dirname(file), 'recheck-');
  const r = spawnSync(join(buildDir, `fuzz-${t.name}`), [`-artifact_prefix=${prefix}`, `-timeout=${unitTimeout}`, file], { encoding: 'utf8' });
  return r.status !== 0;
}

async function fuzzTarget(t) {
  const total = { wall: 0, cpu: 0, execs: 0, cov: 0, ft: 0, corpus: 0, findings: [], spurious: 0, runs: 0 };
  while (total.wall < totalTime - 1) {
    const r = await fuzzOnce(t, Math.max(1, Math.round(totalTime - total.wall)));
    total.runs++;
    total.wall += r.wall;
    total.cpu += r.cpu;
    total.execs += r.execs;
    if (r.cov) Object.assign(total, { cov: r.cov, ft: r.ft, corpus: r.corpus });
    if (r.code === 0 || r.interrupted) break; // done, or stopped by SIGINT/SIGTERM
    if (r.artifact && r.timeout && !reallySlow(t, r.artifact)) {
      const spurious = join(dirname(r.artifact), 'spurious');
      mkdirSync(spurious, { recursive: true });
      renameSync(r.artifact, join(spurious, r.artifact.split('/').pop()));
      total.spurious++;
      continue;
    }
    total.findings.push(r.artifact ?? `exit status ${r.code} (no input kept; see ${join(logDir, `${t.name}.log`)})`);
    if (!keepGoing || !r.artifact) break;
  }
  const line = `${t.name}: ${total.wall.toFixed(0)} s wall, ${total.cpu.toFixed(0)} s CPU, ${total.execs} execs, ` +
    `cov ${total.cov} ft ${total.ft} corpus ${total.corpus}, ${total.findings.length} findings` +
    (total.spurious ? `, ${total.spurious} spurious timeouts` : '');
  appendFileSync(join(logDir, 'summary.log'), `${new Date().toISOString()} ${line}\n`);
  console.log(line);
  for (const f of total.findings) console.log(`  finding: ${f}`);
  return total;
}

const results = parallel ? await Promise.all(targets.map(fuzzTarget)) : [];
if (!parallel) for (const t of targets) results.push(await fuzzTarget(t));
process.exit(results.some((r) => r.findings.length) ? 1 : 0);
