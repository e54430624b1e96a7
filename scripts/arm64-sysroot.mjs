// An arm64 root for the cross build and the arm64 load test:
// build-arm64/sysroot holds Debian's arm64 libpcap (headers and library, to
// link the arm64 prebuild against) and Debian's arm64 Node.js with the
// libraries it runs on (for qemu-aarch64 -L). The packages are unpacked
// there, not installed: nodejs:arm64 cannot be installed beside the
// machine's own nodejs, and unpacking changes nothing outside the project.
//
//   node scripts/arm64-sysroot.mjs [--refresh]     (prints the sysroot's path)
//
// Needs arm64 package lists: dpkg --add-architecture arm64 && apt-get update
// (.ci/run does this).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const workDir = join(root, 'build-arm64');
export const sysroot = join(workDir, 'sysroot');
export const multiarchLib = join(sysroot, 'usr', 'lib', 'aarch64-linux-gnu');

// Runtime roots; their Depends are followed. libpcap0.8-dev is taken alone:
// of it we need pcap.h and the libpcap.so link, not its -dev dependencies.
const RUNTIME = ['nodejs', 'libpcap0.8'];
const ALONE = ['libpcap0.8-dev'];
// Tools some of these depend on that nothing here runs.
const NOT_NEEDED = /^(dpkg|tar|install-info|debconf|perl|python3|ca-certificates|openssl)\b/;

/** Why the sysroot cannot be made here, or null if it can (or is made). */
export function sysrootUnavailable() {
  if (existsSync(join(sysroot, '.packages'))) return null;
  let foreign = '';
  try {
    foreign = execFileSync('dpkg', ['--print-foreign-architectures'], { encoding: 'utf8' });
  } catch {
    return 'dpkg is not available (the arm64 sysroot is made from Debian packages)';
  }
  if (!foreign.split('\n').includes('arm64')) {
    return 'arm64 is not a dpkg architecture here: run `dpkg --add-architecture arm64 && apt-get update`';
  }
  try {
    execFileSync('apt-cache', ['show', '--no-all-versions', 'nodejs:arm64', 'libpcap0.8-dev:arm64'], { stdio: 'ignore' });
  } catch {
    return 'apt knows no nodejs:arm64 / libpcap0.8-dev:arm64: run `apt-get update`';
  }
  return null;
}

// The Depends/Pre-Depends closure of `roots`, the first alternative of each
// or-group, a virtual package by its first provider.
function closure(roots) {
  const seen = new Set();
  let level = roots.map((p) => `${p}:arm64`);
  while (level.length) {
    level = level.filter((p) => !seen.has(p) && !NOT_NEEDED.test(p));
    if (!level.length) break;
    for (const p of level) seen.add(p);
    const out = execFileSync('apt-cache', ['depends', '--no-recommends', '--no-suggests', '--no-conflicts',
      '--no-breaks', '--no-replaces', '--no-enhances', ...level], { encoding: 'utf8' });
    const next = [];
    let inOrGroup = false;
    let wantProvider = false;
    for (const line of out.split('\n')) {
      const dep = /^ (\|| )(Pre)?Depends: (.+)$/.exec(line);
      if (dep) {
        const alternativeOfPrevious = inOrGroup;
        inOrGroup = dep[1] === '|';
        wantProvider = false;
        if (alternativeOfPrevious) continue;
        if (dep[3].startsWith('<')) wantProvider = true;
        else next.push(dep[3]);
      } else if (wantProvider && /^ {4}\S/.test(line)) {
        next.push(line.trim());
        wantProvider = false;
      } else if (!line.startsWith(' ')) {
        inOrGroup = false;
        wantProvider = false;
      }
    }
    level = arm64Names(next.filter((p) => !p.endsWith(':any')));
  }
  return [...seen];
}

// An unqualified name in a Depends line is an Architecture: all package or
// (from an all package's Depends) the native one; the sysroot wants arm64.
function arm64Names(names) {
  const bare = [...new Set(names.filter((p) => !p.includes(':')))];
  if (!bare.length) return names;
  const archAll = new Set(
    execFileSync('apt-cache', ['show', '--no-all-versions', ...bare], { encoding: 'utf8' })
      .split('\n\n').filter((s) => /^Architecture: all$/m.test(s))
      .map((s) => /^Package: (.+)$/m.exec(s)[1]),
  );
  return names.map((p) => (p.includes(':') || archAll.has(p) ? p : `${p}:arm64`));
}

/**
 * Makes the sysroot, or reuses the one there (apt takes seconds to resolve
 * the packages; `refresh` asks it, and remakes the sysroot if a version
 * moved). Returns its path.
 */
export function ensureSysroot({ quiet = false, refresh = false } = {}) {
  const stamp = join(sysroot, '.packages');
  if (!refresh && existsSync(stamp)) return sysroot;
  const why = sysrootUnavailable();
  if (why) throw new Error(`cannot make the arm64 sysroot: ${why}`);
  const packages = [...closure(RUNTIME), ...ALONE.map((p) => `${p}:arm64`)].sort();
  // The exact versions apt would download: the sysroot is remade when one moves.
  const wanted = execFileSync('apt-cache', ['show', '--no-all-versions', ...packages], { encoding: 'utf8' })
    .split('\n\n').filter(Boolean)
    .map((stanza) => `${/^Package: (.+)$/m.exec(stanza)[1]} ${/^Version: (.+)$/m.exec(stanza)[1]} ${/^Architecture: (.+)$/m.exec(stanza)[1]}`)
    .sort().join('\n');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === wanted) return sysroot;

  const debs = join(workDir, 'debs');
  rmSync(debs, { recursive: true, force: true });
  rmSync(sysroot, { recursive: true, force: true });
  mkdirSync(debs, { recursive: true });
  mkdirSync(sysroot, { recursive: true });
  if (!quiet) console.error(`arm64 sysroot: downloading ${packages.length} packages`);
  // As root, apt hands downloads to its unprivileged _apt user, who cannot
  // write into a project directory owned by root: download as root instead.
  const asRoot = process.getuid?.() === 0 ? ['-o', 'APT::Sandbox::User=root'] : [];
  execFileSync('apt-get', ['download', '-qq', ...asRoot, ...packages], { cwd: debs, stdio: ['ignore', 'ignore', 'inherit'] });
  for (const deb of readdirSync(debs).filter((f) => f.endsWith('.deb'))) {
    execFileSync('dpkg-deb', ['-x', join(debs, deb), sysroot]);
  }
  writeFileSync(stamp, wanted);
  return sysroot;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    console.log(ensureSysroot({ refresh: process.argv.includes('--refresh') }));
  } catch (err) {
    console.error(err.message);
    process.exit(1);
  }
}
