// The package as a user gets it: `npm pack`, then the tarball installed into
// an empty project, twice:
//   prebuilt      with the compilers made unavailable: the prebuild must load
//                 and nothing may be compiled;
//   from source   with prebuilds/ taken out of the tarball: node-gyp-build
//                 must build the addon (with npm's own node-gyp).
// Each install is used from CommonJS and ESM (reading the bundled sample,
// which must give what this checkout gives), its types are checked by tsc
// under moduleResolution node16 and bundler, and node_modules/.bin/tcpsensor
// runs. First, the tarball's file list is checked against what is intended.
//
//   npm run test:install        (after npm run prebuild -- --arch x64)
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const started = Date.now();
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const prebuildName = `prebuilds/linux-${process.arch}/${pkg.name}.glibc.node`;
let failures = 0;

function check(ok, what) {
  console.log(`${ok ? 'ok' : 'not ok'} - ${what}`);
  if (!ok) failures++;
  return ok;
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  if (r.error) throw r.error;
  return r;
}

function must(cmd, args, opts = {}) {
  const r = run(cmd, args, opts);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status ?? r.signal}\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

const elapsed = (since) => `${((Date.now() - since) / 1000).toFixed(1)} s`;

if (!existsSync(join(root, prebuildName))) {
  console.error(`install test: ${prebuildName} is missing: npm run prebuild -- --arch ${process.arch}`);
  process.exit(1);
}

// --- What the tarball holds -------------------------------------------------

const tracked = must('git', ['ls-files'], { cwd: root }).split('\n').filter(Boolean);
const sources = JSON.parse(readFileSync(join(root, 'native', 'sources.json'), 'utf8'));
// Building from source needs the listed sources and every header beside them.
const nativeDirs = [...new Set(Object.values(sources).flat().map((f) => dirname(f)))];
const buildInputs = tracked.filter((f) => nativeDirs.includes(dirname(f)));
const libModules = tracked.filter((f) => /^lib\/[^/]+\.ts$/.test(f)).map((f) => f.slice(4, -3));

const work = mkdtempSync(join(tmpdir(), 'tcpsensor-install-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));
const t = Date.now();
// `npm pack` runs prepare (tsc), as publishing does; its --json report is
// the listing `npm pack --dry-run --json` gives, checked below.
const [packed] = JSON.parse(must('npm', ['pack', '--json', '--pack-destination', work], { cwd: root }).replace(/^[^[]*/, ''));
const tarball = join(work, packed.filename);
const files = packed.files.map((f) => f.path).sort();
console.log(`# npm pack: ${packed.filename}, ${files.length} files, ${packed.size} bytes packed, ${packed.unpackedSize} unpacked (${elapsed(t)})`);
for (const f of packed.files) console.log(`#   ${String(f.size).padStart(7)}  ${f.path}`);

const intended = [
  /^package\.json$/, /^README\.md$/, /^LICENSE(\.\w+)?$/, /^binding\.gyp$/, /^CMakeLists\.txt$/,
  /^native\/sources\.json$/, /^samples\/sample\.pcap$/,
  /^prebuilds\/linux-(x64|arm64)\/tcpsensor\.glibc\.node$/,
  /^dist\/[\w-]+\.(js|d\.ts)$/, /^dist\/index\.mjs$/,
];
const unintended = files.filter((f) => !intended.some((re) => re.test(f)) && !buildInputs.includes(f));
check(unintended.length === 0, `the tarball holds only what is intended${unintended.length ? `; also: ${unintended.join(' ')}` : ''}`);
const missingInputs = buildInputs.filter((f) => !files.includes(f));
check(missingInputs.length === 0 && buildInputs.length > 0,
  `every source and header of ${nativeDirs.join(', ')} is in it${missingInputs.length ? `; missing: ${missingInputs.join(' ')}` : ''}`);
const required = ['package.json', 'README.md', 'binding.gyp', 'CMakeLists.txt', 'native/sources.json', 'samples/sample.pcap',
  'dist/index.js', 'dist/index.mjs', 'dist/index.d.ts', 'dist/cli.js', prebuildName];
const missing = required.filter((f) => !files.includes(f));
check(missing.length === 0, `it holds the entry points, the build files and the ${process.arch} prebuild${missing.length ? `; missing: ${missing.join(' ')}` : ''}`);
// dist/ is not cleaned by tsc: a module whose lib/ source is gone would ship.
const stale = files.filter((f) => /^dist\/[\w-]+\.js$/.test(f)).map((f) => f.slice(5, -3)).filter((m) => !libModules.includes(m));
check(stale.length === 0, `every dist/ module comes from lib/${stale.length ? `; stale: ${stale.join(' ')}` : ''}`);

// --- The tarballs -----------------------------------------------------------

// The same tarball without prebuilds/, as on a platform we ship no binary for.
const unpacked = join(work, 'unpacked');
mkdirSync(unpacked);
must('tar', ['-xzf', tarball, '-C', unpacked]);
rmSync(join(unpacked, 'package', 'prebuilds'), { recursive: true, force: true });
const sourceTarball = join(work, 'source-only.tgz');
must('tar', ['-czf', sourceTarball, '-C', unpacked, 'package']);

// --- What this checkout gives, for comparison ----------------------------------

const sample = join(root, 'samples', 'sample.pcap');
const expectedCli = must(process.execPath, [join(root, 'dist', 'cli.js'), '-r', sample, '--events', 'all']);
const expectedEvents = expectedCli.split('\n').filter(Boolean).length;

// --- A consumer project -----------------------------------------------------

const CJS = `
const tcpsensor = require('tcpsensor');
(async () => {
  const names = [];
  for await (const ev of tcpsensor.open({ file: process.argv[2] }, { events: 'all' })) names.push(ev.event);
  const addon = Object.keys(require.cache).filter((k) => k.endsWith('.node'));
  console.log(JSON.stringify({ events: names.length, established: names.filter((n) => n === 'connection_established').length, addon }));
})();
`;
const ESM = `
import { createRequire } from 'node:module';
import tcpsensor, { open, TcpsensorError } from 'tcpsensor';
const names = [];
for await (const ev of open({ file: process.argv[2] }, { events: 'all' })) names.push(ev.event);
if (tcpsensor.open !== open || typeof TcpsensorError !== 'function') throw new Error('default and named exports differ');
const addon = Object.keys(createRequire(import.meta.url).cache).filter((k) => k.endsWith('.node'));
console.log(JSON.stringify({ events: names.length, established: names.filter((n) => n === 'connection_established').length, addon }));
`;
// Uses the types for real: the @ts-expect-error lines fail the check if the
// package's types did not resolve (everything would be \`any\`).
const TS = `
import { open, TcpsensorError, EndpointState, type TcpEvent, type ErrorCode } from 'tcpsensor';

export async function histories(file: string): Promise<string[]> {
  const out: string[] = [];
  for await (const ev of open({ file }, { events: ['connection_state_remove'] })) {
    const e: TcpEvent = ev;
    if (e.event === 'connection_state_remove' && e.conn.orig.state === EndpointState.CLOSED) out.push(e.conn.history);
  }
  return out;
}
export const missing: ErrorCode = 'ERR_LIBPCAP_MISSING';
export const isOurs = (e: unknown): boolean => e instanceof TcpsensorError;
// @ts-expect-error: not an event name
open({ file: 'x.pcap' }, { events: ['no_such_event'] });
// @ts-expect-error: file must be a string
open({ file: 42 });
`;
const TSCONFIGS = {
  node16: { module: 'node16', moduleResolution: 'node16', files: ['consumer.ts', 'consumer.mts'] },
  bundler: { module: 'esnext', moduleResolution: 'bundler', files: ['consumer.ts'] },
};
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');

// A directory earlier in PATH whose compilers and make only record that
// they were called and fail, so an attempted build is both visible and fatal.
function noCompilersPath(dir) {
  const bin = join(dir, 'no-compilers');
  mkdirSync(bin);
  for (const tool of ['cc', 'gcc', 'c++', 'g++', 'clang', 'clang++', 'make', 'cmake']) {
    writeFileSync(join(bin, tool), `#!/bin/sh\necho "${tool} $*" >> "${join(dir, 'compiler-calls.log')}"\nexit 127\n`);
    chmodSync(join(bin, tool), 0o755);
  }
  return bin;
}

function consumer(label, tgz, { compilers, scripts = true, types = true, cli = true }) {
  const since = Date.now();
  console.log(`# ${label}`);
  const dir = join(work, label.replace(/\W+/g, '-'));
  mkdirSync(dir);
  // npm 11's allowScripts: the install script runs because it is approved
  // (a tarball's key is its file: spec), not because this npm happens to
  // run unapproved ones with a warning.
  const allowScripts = scripts ? { [`file:${tgz}`]: true } : {};
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, allowScripts }, null, 2));
  // JOBS: node-gyp's parallel make, at most the 2 cores the machines have.
  const env = { ...process.env, JOBS: '2' };
  if (!compilers) {
    env.PATH = `${noCompilersPath(dir)}:${env.PATH}`;
    Object.assign(env, { CC: 'false', CXX: 'false', LINK: 'false' });
  }
  const install = run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline',
    scripts ? '--foreground-scripts' : '--ignore-scripts', tgz], { cwd: dir, env });
  if (!check(install.status === 0, `${label}: npm install ${tgz.split('/').pop()}${scripts ? '' : ' --ignore-scripts'}`)) {
    console.log(install.stdout + install.stderr);
    return;
  }
  if (scripts) {
    // --foreground-scripts prints each script as it starts.
    check(/> node-gyp-build\b/.test(install.stdout + install.stderr), `${label}: the install script (node-gyp-build) ran`);
  }
  const installed = join(dir, 'node_modules', pkg.name);
  const built = join(installed, 'build', 'Release', `${pkg.name}.node`);
  const wantAddon = compilers ? built : join(installed, prebuildName);
  if (compilers) {
    check(existsSync(built), `${label}: the install built build/Release/${pkg.name}.node`);
    check(!existsSync(join(installed, 'prebuilds')), `${label}: no prebuilds/ in the package`);
  } else {
    const calls = existsSync(join(dir, 'compiler-calls.log')) ? readFileSync(join(dir, 'compiler-calls.log'), 'utf8') : '';
    check(calls === '' && !existsSync(join(installed, 'build')), `${label}: nothing was compiled${calls ? `: ${calls}` : ''}`);
  }

  const installedSample = join(installed, 'samples', 'sample.pcap');
  for (const [name, code] of [['consumer.cjs', CJS], ['consumer.mjs', ESM]]) {
    writeFileSync(join(dir, name), code);
    const r = run(process.execPath, [name, installedSample], { cwd: dir, env });
    let out = null;
    try { out = JSON.parse(r.stdout); } catch { /* reported below */ }
    check(r.status === 0 && out?.events === expectedEvents && out.established > 0 && out.addon.length === 1 && out.addon[0] === wantAddon,
      `${label}: ${name} reads the sample (${out?.events} events, ${expectedEvents} expected) with ${(out?.addon ?? []).map((a) => a.replace(installed + '/', '')).join(' ') || 'no addon'}` +
      (r.status !== 0 ? `\n${r.stderr}` : ''));
  }

  if (types) checkTypes(label, dir, env);
  if (cli) {
    const r = run(join(dir, 'node_modules', '.bin', pkg.name), ['-r', installedSample, '--events', 'all'], { cwd: dir, env });
    check(r.status === 0 && r.stdout === expectedCli,
      `${label}: node_modules/.bin/${pkg.name} -r sample.pcap prints what this checkout's CLI prints (${r.stdout.split('\n').filter(Boolean).length} lines)${r.status ? `\n${r.stderr}` : ''}`);
  }
  console.log(`# ${label}: ${elapsed(since)}`);
}

function checkTypes(label, dir, env) {
  writeFileSync(join(dir, 'consumer.ts'), TS);
  writeFileSync(join(dir, 'consumer.mts'), TS);
  for (const [resolution, { files: tsFiles, ...options }] of Object.entries(TSCONFIGS)) {
    const config = `tsconfig.${resolution}.json`;
    writeFileSync(join(dir, config), JSON.stringify({
      compilerOptions: {
        ...options, target: 'ES2022', strict: true, noEmit: true, skipLibCheck: false,
        // The project's @types/node: the package's types name Buffer and AbortSignal.
        typeRoots: [join(root, 'node_modules', '@types')], types: ['node'],
      },
      files: tsFiles,
    }, null, 2));
    const r = run(process.execPath, [tsc, '-p', config], { cwd: dir, env });
    check(r.status === 0, `${label}: tsc --noEmit, moduleResolution ${resolution} (${tsFiles.join(', ')})${r.status ? `\n${r.stdout}${r.stderr}` : ''}`);
  }
}

consumer('prebuilt, no compilers', tarball, { compilers: false });
// Where npm skips the install script (unapproved under a stricter npm, or
// --ignore-scripts), the prebuild is still found at run time.
consumer('prebuilt, no install script', tarball, { compilers: false, scripts: false, types: false, cli: false });
// The types are checked once: this tarball's dist/ is the one above, byte
// for byte (only prebuilds/ was taken out).
consumer('from source', sourceTarball, { compilers: true, types: false });

console.log(`# install test: ${elapsed(started)}`);
console.log(failures ? `install test: ${failures} check(s) failed` : 'install test: all checks passed');
process.exit(failures ? 1 : 0);
