// Prebuilt binaries: prebuilds/linux-<arch>/tcpsensor.glibc.node, one per
// architecture (N-API 8: one binary serves Node.js 18 and later), made by
// prebuildify driving node-gyp over binding.gyp.
//
//   npm run prebuild                      linux-x64 and linux-arm64
//   npm run prebuild -- --arch x64        only the given ones (x64, arm64)
//
// arm64 is cross-compiled with Debian's aarch64 toolchain
// (g++-aarch64-linux-gnu) against Debian's arm64 libpcap, unpacked by
// scripts/arm64-sysroot.mjs. Each build happens in its own staging directory
// (build-prebuild/<arch>), so build/Release, which node-gyp-build loads
// before prebuilds/, stays the developer's own build.
//
// Every binary is then checked: right machine, libstdc++ linked in, nothing
// needed beyond glibc, libgcc_s and libpcap.so.0.8, and glibc symbol
// versions no newer than GLIBC_CEILING.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { arch as hostArch, platform } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureSysroot, multiarchLib, sysroot, sysrootUnavailable } from './arm64-sysroot.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

// The newest glibc symbol version a prebuild may need, so the oldest glibc
// it loads on: 2.34 (Debian 12, Ubuntu 22.04, RHEL 9), because the static
// libstdc++ (below) built against glibc 2.36 calls pthread_create and
// pthread_join at their 2.34 versions. A newer one creeping in would
// silently drop those systems, so it fails the build instead.
export const GLIBC_CEILING = '2.34';
// What a prebuild may need from the system: glibc, libgcc_s (which Node
// itself links) and libpcap.so.0.8, nothing else.
const ALLOWED_NEEDED = /^(libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|ld-linux[-\w.]*\.so\.\d|libgcc_s\.so\.1|libpcap\.so\.0\.8)$/;

const TARGETS = {
  x64: { machine: 62, tools: '' }, // EM_X86_64
  arm64: { machine: 183, tools: 'aarch64-linux-gnu-' }, // EM_AARCH64
};

/** Why `arch` cannot be built on this machine, or null. */
export function prebuildUnavailable(arch) {
  if (platform() !== 'linux') return `prebuilds are made on Linux (this is ${platform()})`;
  if (!TARGETS[arch]) return `unknown architecture ${arch} (known: ${Object.keys(TARGETS).join(', ')})`;
  if (arch === hostArch()) return null;
  if (hostArch() !== 'x64' || arch !== 'arm64') return `no cross build from ${hostArch()} to ${arch}`;
  if (spawnSync('aarch64-linux-gnu-g++', ['--version']).status !== 0) {
    return 'aarch64-linux-gnu-g++ is missing: apt-get install g++-aarch64-linux-gnu';
  }
  return sysrootUnavailable();
}

// Where node-gyp finds Node's headers. npm passes its `nodedir` setting in
// the environment; run directly, the script points node-gyp at the running
// Node's own headers when it has them, rather than letting it download
// (N-API headers are the same for every architecture).
function nodedirEnv() {
  if (process.env.npm_config_nodedir) return {};
  const prefix = join(dirname(process.execPath), '..');
  return existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? { npm_config_nodedir: prefix } : {};
}

function envFor(arch) {
  // The prebuilds carry their own libstdc++: linked to the shared one, an
  // addon built by GCC 12 needs GLIBCXX_3.4.30, which older runtimes lack
  // (RHEL 9 has 3.4.29, Ubuntu 20.04 3.4.28), and a newer build compiler
  // would raise it again. --exclude-libs keeps the copy private, so it
  // neither exports nor interposes on the libstdc++ Node itself uses;
  // nothing C++ crosses the N-API boundary, so the two never meet.
  // --gc-sections drops what the addon never calls, std::random_device
  // among it, whose arc4random would need glibc 2.36. libgcc stays shared
  // (libgcc_s.so.1): its static unwinder calls _dl_find_object (glibc 2.35).
  const ldflags = ['-static-libstdc++', '-Wl,--gc-sections', '-Wl,--exclude-libs,ALL'];
  // JOBS: node-gyp's parallel make; the machines have 2 cores.
  const env = { JOBS: '2', ...process.env, ...nodedirEnv() };
  if (arch !== hostArch()) {
    const tools = TARGETS[arch].tools;
    Object.assign(env, { CC: `${tools}gcc`, CXX: `${tools}g++`, LINK: `${tools}g++`, AR: `${tools}ar` });
    // libpcap's arm64 headers and library; -rpath-link lets the linker
    // follow libpcap's own dependencies (libdbus, ...) in the sysroot.
    const include = `-isystem ${join(sysroot, 'usr', 'include')}`;
    env.CFLAGS = include;
    env.CXXFLAGS = include;
    const libDirs = [multiarchLib, join(sysroot, 'lib', 'aarch64-linux-gnu')];
    ldflags.push(`-L${multiarchLib}`, `-Wl,-rpath-link,${libDirs.join(':')}`);
  }
  env.LDFLAGS = ldflags.join(' ');
  return env;
}

// A directory that looks like the package to node-gyp, with its own build/.
function stage(arch) {
  const dir = join(root, 'build-prebuild', arch);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const name of ['binding.gyp', 'package.json', 'native', 'node_modules']) {
    symlinkSync(join(root, name), join(dir, name));
  }
  return dir;
}

function build(arch) {
  const dir = stage(arch);
  const tools = arch === hostArch() ? '' : TARGETS[arch].tools;
  const args = [
    join(root, 'node_modules', 'prebuildify', 'bin.js'),
    '--napi', '--strip', `--strip-bin=${tools}strip`,
    // The libc tag keeps node-gyp-build from loading a glibc binary under
    // musl (Alpine), where it builds from source instead.
    '--tag-libc',
    `--arch=${arch}`, `--target=${process.versions.node}`,
    `--out=${root}`, dir,
  ];
  const r = spawnSync(process.execPath, args, { cwd: dir, env: envFor(arch), stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`prebuildify for ${arch} failed (exit ${r.status ?? r.signal})`);
  return readdirSync(join(root, 'prebuilds', `linux-${arch}`))
    .filter((f) => f.endsWith('.node'))
    .map((f) => join(root, 'prebuilds', `linux-${arch}`, f));
}

const versionKey = (v) => v.split('.').map((n) => n.padStart(4, '0')).join('.');

/** What a prebuilt binary needs from the system (read with the target's objdump). */
export function inspect(file, arch) {
  const tools = arch === hostArch() ? '' : TARGETS[arch].tools;
  const header = readFileSync(file).subarray(0, 20);
  const machine = header.readUInt16LE(18);
  const dynamic = execFileSync(`${tools}objdump`, ['-p', file], { encoding: 'utf8' });
  const needed = [...dynamic.matchAll(/^\s+NEEDED\s+(\S+)$/gm)].map((m) => m[1]);
  const symbols = execFileSync(`${tools}objdump`, ['-T', file], { encoding: 'utf8' });
  const versions = (tag) => [...new Set([...symbols.matchAll(new RegExp(`\\b${tag}_([\\d.]+)\\b`, 'g'))].map((m) => m[1]))]
    .sort((a, b) => versionKey(a).localeCompare(versionKey(b)));
  const glibc = versions('GLIBC');
  return {
    file, machine, needed, glibc, maxGlibc: glibc.at(-1) ?? null, glibcxx: versions('GLIBCXX'),
    size: statSync(file).size,
  };
}

export function check(info, arch) {
  const problems = [];
  if (info.machine !== TARGETS[arch].machine) problems.push(`ELF machine ${info.machine}, expected ${TARGETS[arch].machine}`);
  const extra = info.needed.filter((n) => !ALLOWED_NEEDED.test(n));
  if (extra.length) problems.push(`needs ${extra.join(', ')} (only glibc and libpcap.so.0.8 are allowed)`);
  if (!info.needed.includes('libpcap.so.0.8')) problems.push('does not link libpcap.so.0.8');
  if (info.glibcxx.length) problems.push(`uses the system libstdc++ (GLIBCXX_${info.glibcxx.at(-1)})`);
  if (info.maxGlibc && versionKey(info.maxGlibc) > versionKey(GLIBC_CEILING)) {
    problems.push(`needs GLIBC_${info.maxGlibc}, newer than the ${GLIBC_CEILING} ceiling`);
  }
  return problems;
}

function main() {
  const argIndex = process.argv.indexOf('--arch');
  const arg = argIndex > 0 ? process.argv[argIndex + 1] : process.argv.find((a) => a.startsWith('--arch='))?.slice(7);
  const arches = arg ? arg.split(',') : hostArch() === 'x64' ? ['x64', 'arm64'] : [hostArch()];
  for (const arch of arches) {
    const why = prebuildUnavailable(arch);
    if (why) {
      console.error(`prebuild: cannot build linux-${arch}: ${why}`);
      console.error('(`npm run prebuild -- --arch x64` builds only the native one)');
      process.exit(1);
    }
  }
  let failed = false;
  for (const arch of arches) {
    if (arch !== hostArch()) ensureSysroot();
    rmSync(join(root, 'prebuilds', `linux-${arch}`), { recursive: true, force: true });
    for (const file of build(arch)) {
      const info = inspect(file, arch);
      const problems = check(info, arch);
      console.log(`${relative(root, file)}: ${(info.size / 1024).toFixed(0)} KiB, needs ${info.needed.join(' ')}; ` +
        `symbol versions up to GLIBC_${info.maxGlibc}`);
      for (const p of problems) console.error(`  ${p}`);
      if (problems.length) failed = true;
    }
  }
  if (failed) process.exit(1);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
