// The arm64 prebuild, loaded by Debian's arm64 Node.js under qemu-user, reads
// captures through the package's API and must give exactly what the native
// x64 run gives (per-event counts and a digest of every event).
//
//   npm run test:arm64 [-- FILE...]       (default: samples/sample.pcap)
//
// Needs prebuilds/linux-arm64 (npm run prebuild), qemu-aarch64 (Debian's
// qemu-user) and the arm64 sysroot (scripts/arm64-sysroot.mjs). Where one is
// missing it says which and exits 0, unless TCPSENSOR_REQUIRE_ARM64=1 (CI),
// which makes that a failure.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ensureSysroot, root, sysrootUnavailable } from './arm64-sysroot.mjs';

const summary = join(root, 'scripts', 'event-summary.mjs');
const prebuildDir = join(root, 'prebuilds', 'linux-arm64');

function unavailable() {
  if (process.platform !== 'linux' || process.arch !== 'x64') return `this is ${process.platform}-${process.arch}: the test runs arm64 under emulation on linux-x64`;
  if (spawnSync('qemu-aarch64', ['--version']).status !== 0) return 'qemu-aarch64 is missing: apt-get install qemu-user';
  if (!existsSync(prebuildDir) || !readdirSync(prebuildDir).some((f) => f.endsWith('.node'))) {
    return 'prebuilds/linux-arm64 has no binary: npm run prebuild';
  }
  if (!existsSync(join(root, 'dist', 'index.mjs'))) return 'dist/ is not built: npm run build:ts';
  return sysrootUnavailable();
}

const why = unavailable();
if (why) {
  console.log(`test:arm64 SKIPPED: ${why}`);
  process.exit(process.env.TCPSENSOR_REQUIRE_ARM64 === '1' ? 1 : 0);
}
const sysroot = ensureSysroot();

function run(label, command, args) {
  // PREBUILDS_ONLY: node-gyp-build would otherwise try build/Release first,
  // which holds the x64 developer build.
  const started = process.hrtime.bigint();
  const r = spawnSync(command, args, { encoding: 'utf8', env: { ...process.env, PREBUILDS_ONLY: '1' } });
  const ms = Number((process.hrtime.bigint() - started) / 1_000_000n);
  if (r.status !== 0) {
    console.log(`${label}: exit ${r.status ?? r.signal}\n${r.stdout}${r.stderr}`);
    return null;
  }
  const result = JSON.parse(r.stdout.trim().split('\n').at(-1));
  console.log(`${label} (${ms} ms): ${result.arch} node ${result.node}, loaded ${result.addon.map((a) => a.replace(root + '/', '')).join(' ')}`);
  console.log(`  ${result.packets} packets, ${result.events} events, digest ${result.digest}`);
  console.log(`  ${Object.entries(result.counts).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  return result;
}

const files = process.argv.slice(2).length ? process.argv.slice(2) : [join(root, 'samples', 'sample.pcap')];
let failed = 0;
for (const file of files) {
  console.log(`# ${file.replace(root + '/', '')}`);
  const x64 = run('x64  ', process.execPath, [summary, file]);
  const arm64 = run('arm64', 'qemu-aarch64', ['-L', sysroot, join(sysroot, 'usr', 'bin', 'node'), summary, file]);
  const ok = x64 && arm64 && arm64.arch === 'arm64'
    && arm64.addon.length === 1 && arm64.addon[0].startsWith(prebuildDir)
    && x64.packets > 0 && arm64.packets === x64.packets && arm64.digest === x64.digest
    && JSON.stringify(arm64.counts) === JSON.stringify(x64.counts);
  console.log(ok ? 'ok: the arm64 prebuild gives the same events' : 'not ok: the runs differ');
  if (!ok) failed++;
}
process.exit(failed ? 1 : 0);
