// A system without the libpcap runtime: loading the addon fails in the
// dynamic loader, and the package turns that into ERR_LIBPCAP_MISSING with
// the package to install. The system's libpcap cannot be hidden from a test
// (LD_LIBRARY_PATH only adds directories), so a copy of the package is made
// whose addon asks for a library that does not exist: patchelf rewrites its
// DT_NEEDED entry, and the real loader really fails on it.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { root } from './helpers/run.mjs';

const require = createRequire(import.meta.url);
const sample = join(root, 'samples', 'sample.pcap');

const hasPatchelf = process.platform === 'linux' && spawnSync('patchelf', ['--version']).status === 0;
const why = process.platform !== 'linux' ? 'ELF only' : 'patchelf is missing: apt-get install patchelf';
const linuxTest = hasPatchelf ? test : (title, fn) => test.skip(`${title} (skipped: ${why})`, fn);

// A copy of the package (dist/, package.json, and the addon node-gyp-build
// picks here, at build/Release) whose addon needs libpcap-missing.so.0.8
// instead of libpcap.so.0.8.
function packageWithoutLibpcap(t) {
  const dir = mkdtempSync(join(tmpdir(), 'tcpsensor-nolibpcap-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // Copied, not linked: Node resolves a linked dist/ to its real path and
  // would load the real addon beside it.
  cpSync(join(root, 'dist'), join(dir, 'dist'), { recursive: true });
  copyFileSync(join(root, 'package.json'), join(dir, 'package.json'));
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  const addon = require('node-gyp-build').resolve(root);
  mkdirSync(join(dir, 'build', 'Release'), { recursive: true });
  const copy = join(dir, 'build', 'Release', 'tcpsensor.node');
  copyFileSync(addon, copy);
  const needed = spawnSync('patchelf', ['--print-needed', copy], { encoding: 'utf8' }).stdout.split('\n');
  t.true(needed.includes('libpcap.so.0.8'), `${addon} links libpcap.so.0.8 (needs: ${needed.join(' ')})`);
  const r = spawnSync('patchelf', ['--replace-needed', 'libpcap.so.0.8', 'libpcap-missing.so.0.8', copy], { encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  return dir;
}

function node(args) {
  return spawnSync(process.execPath, args, { encoding: 'utf8' });
}

linuxTest('open() with no libpcap throws ERR_LIBPCAP_MISSING naming each system\'s package', (t) => {
  const dir = packageWithoutLibpcap(t);
  const script = `
    const { open, TcpsensorError } = require(${JSON.stringify(join(dir, 'dist', 'index.js'))});
    try { open({ file: ${JSON.stringify(sample)} }); console.log('{"opened":true}'); }
    catch (e) { console.log(JSON.stringify({ tcpsensorError: e instanceof TcpsensorError, code: e.code, message: e.message, cause: e.cause?.message, causeCode: e.cause?.code })); }
  `;
  const r = node(['-e', script]);
  t.is(r.status, 0, r.stderr);
  const err = JSON.parse(r.stdout);
  t.true(err.tcpsensorError);
  t.is(err.code, 'ERR_LIBPCAP_MISSING');
  for (const install of ['apt-get install libpcap0.8', 'dnf install libpcap', 'apk add libpcap', 'brew install libpcap']) {
    t.true(err.message.includes(install), `${install} in: ${err.message}`);
  }
  t.true(err.message.includes('libpcap-missing.so.0.8 could not be loaded'), err.message);
  // The loader's own error stays reachable.
  t.is(err.causeCode, 'ERR_DLOPEN_FAILED');
  t.regex(err.cause, /libpcap-missing\.so\.0\.8: cannot open shared object file/);
});

linuxTest('the CLI with no libpcap says what to install and exits non-zero', (t) => {
  const dir = packageWithoutLibpcap(t);
  const r = node([join(dir, 'dist', 'cli.js'), '-r', sample]);
  t.not(r.status, 0);
  t.is(r.stdout, '');
  t.true(r.stderr.includes('apt-get install libpcap0.8'), r.stderr);
  t.false(r.stderr.includes('    at '), `no stack trace: ${r.stderr}`);
});

test('other load failures are not reported as a missing libpcap', async (t) => {
  const { libpcapMissing } = require(join(root, 'dist', 'native.js'));
  t.is(libpcapMissing(new Error('/x/tcpsensor.node: /lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.38\' not found')), null);
  t.is(libpcapMissing(new Error('/x/libpcap-tools/tcpsensor.node: wrong ELF class: ELFCLASS32')), null);
  // macOS's dyld wording (cannot happen on this machine; the form is dyld's).
  const mac = libpcapMissing(new Error('dlopen(/x/tcpsensor.node, 0x0001): Library not loaded: /usr/lib/libpcap.A.dylib\n  Referenced from: /x/tcpsensor.node'));
  t.is(mac?.code, 'ERR_LIBPCAP_MISSING');
  t.true(mac.message.includes('libpcap.A.dylib could not be loaded'));
});
