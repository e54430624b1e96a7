// Error codes: every TcpsensorError code a capture source can provoke,
// raised where the API says (open() for what is wrong before the first
// packet, the iterator for what goes wrong while reading, after every
// event that came before it).
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PcapWriter, TcpFlow } from './helpers/pcap.mjs';
import { collect, drain, named, root, scratch, tcpsensor } from './helpers/run.mjs';

const { open, TcpsensorError } = tcpsensor;

const isRoot = process.getuid?.() === 0;

function openError(t, source, options) {
  const err = t.throws(() => open(source, options), { instanceOf: TcpsensorError });
  return err;
}

// A conversation still open when the file ends (so the end-of-input flush
// has something to flush), followed by one more client segment: the
// record that the tests below cut short or corrupt.
function conversation() {
  const f = new TcpFlow({ client: '10.3.0.1:40001', server: '10.3.0.2:80', t0: 50, step: 0.25 });
  f.handshake();
  f.data('c', 'GET / HTTP/1.0\r\n\r\n');
  f.data('s', 'HTTP/1.0 200 OK\r\n\r\n');
  const last = f.data('c', 'more data from the client');
  const whole = f.writer.toBuffer();
  const lastRecord = 16 + last.length;
  return { whole, prefix: whole.subarray(0, whole.length - lastRecord), lastRecord };
}

test('a missing file is ERR_PCAP_OPEN, at open(), naming the path', (t) => {
  const path = scratch('no-such-file.pcap');
  const err = openError(t, { file: path });
  t.is(err.code, 'ERR_PCAP_OPEN');
  t.true(err.message.includes(path), err.message);
});

test('a directory is ERR_PCAP_OPEN (it cannot be opened as a capture file)', (t) => {
  const dir = scratch('a-directory.pcap');
  mkdirSync(dir);
  t.is(openError(t, { file: dir }).code, 'ERR_PCAP_OPEN');
});

test('a file that is not a capture is ERR_PCAP_FORMAT', (t) => {
  const path = scratch('text.pcap');
  writeFileSync(path, 'This is a text file, not a packet capture.\n'.repeat(20));
  const err = openError(t, { file: path });
  t.is(err.code, 'ERR_PCAP_FORMAT');
  t.true(err.message.includes(path), err.message);
});

test('an empty file is ERR_PCAP_FORMAT (it has no pcap header, so it is no capture)', (t) => {
  const path = scratch('empty.pcap');
  writeFileSync(path, '');
  t.is(openError(t, { file: path }).code, 'ERR_PCAP_FORMAT');
});

test('a capture with a header and no packets is no error: it yields no events', async (t) => {
  const path = new PcapWriter().write(scratch('no-packets.pcap'));
  const { events, error } = await drain(open({ file: path }));
  t.is(error, undefined);
  t.deepEqual(events, []);
});

test('a file ending inside a packet: every event first, end-of-input flush included, then ERR_PCAP_TRUNCATED', async (t) => {
  const { whole, prefix } = conversation();
  const cut = scratch('cut-in-data.pcap');
  writeFileSync(cut, whole.subarray(0, whole.length - 10));
  const clean = scratch('cut-prefix.pcap');
  writeFileSync(clean, prefix);

  // What the complete packets before the cut give on their own.
  const expected = await collect(clean);
  t.is(named(expected, 'connection_established').length, 1);
  // The connection is still open at the cut: Zeek's termination flush.
  t.is(named(expected, 'connection_pending').length, 1);
  t.is(expected.at(-1).event, 'connection_state_remove');

  const { events, error } = await drain(open({ file: cut }));
  t.true(error instanceof TcpsensorError);
  t.is(error?.code, 'ERR_PCAP_TRUNCATED');
  t.deepEqual(events, expected);
});

test('a file ending inside a record header is ERR_PCAP_TRUNCATED too, after the events', async (t) => {
  const { prefix, whole } = conversation();
  const cut = scratch('cut-in-header.pcap');
  // The last record's first 10 header bytes only.
  writeFileSync(cut, whole.subarray(0, prefix.length + 10));
  const clean = scratch('cut-in-header-prefix.pcap');
  writeFileSync(clean, prefix);

  const expected = await collect(clean);
  const { events, error } = await drain(open({ file: cut }));
  t.is(error?.code, 'ERR_PCAP_TRUNCATED');
  t.deepEqual(events, expected);
});

test('a corrupt record (capture length beyond the snaplen) is ERR_PCAP_READ, after the events before it', async (t) => {
  const { prefix } = conversation();
  const bad = Buffer.alloc(16);
  bad.writeUInt32LE(60, 0);
  bad.writeUInt32LE(0x7fffffff, 8); // caplen
  bad.writeUInt32LE(0x7fffffff, 12); // wire length
  const path = scratch('corrupt-record.pcap');
  writeFileSync(path, Buffer.concat([prefix, bad, Buffer.alloc(64)]));
  const clean = scratch('corrupt-prefix.pcap');
  writeFileSync(clean, prefix);

  const expected = await collect(clean);
  const { events, error } = await drain(open({ file: path }));
  t.is(error?.code, 'ERR_PCAP_READ');
  t.deepEqual(events, expected);
});

test('an invalid BPF filter is ERR_BPF at open()', (t) => {
  const path = new TcpFlow().handshake().write(scratch('bpf.pcap'));
  t.is(openError(t, { file: path, filter: 'tcp port' }).code, 'ERR_BPF');
  t.is(openError(t, { file: path, filter: 'no such primitive' }).code, 'ERR_BPF');
});

test('a valid BPF filter is applied to a file', async (t) => {
  const w = new PcapWriter();
  new TcpFlow({ writer: w, client: '10.4.0.1:1000', server: '10.4.0.2:80', t0: 1 }).handshake();
  new TcpFlow({ writer: w, client: '10.4.0.1:1001', server: '10.4.0.2:443', t0: 2 }).handshake();
  const path = w.write(scratch('bpf-two.pcap'));
  const all = named(await collect(path), 'new_connection');
  t.is(all.length, 2);
  const only443 = named(await collect({ file: path, filter: 'tcp port 443' }), 'new_connection');
  t.deepEqual(only443.map((e) => e.id.resp_p), [443]);
});

test('an unsupported link type (147, user-defined) is ERR_PCAP_LINKTYPE at open()', (t) => {
  const w = new PcapWriter({ linktype: 147 });
  w.add(1, Buffer.alloc(64));
  const err = openError(t, { file: w.write(scratch('linktype147.pcap')) });
  t.is(err.code, 'ERR_PCAP_LINKTYPE');
  t.regex(err.message, /147/);
});

// Without root, libpcap fails on the packet socket before it looks the
// device up, so the error would be ERR_PCAP_PERMISSION instead.
(isRoot ? test : test.skip)(`an unknown interface is ERR_PCAP_NO_DEVICE at open()${isRoot ? '' : ' (skipped: needs root)'}`, (t) => {
  const err = openError(t, { interface: 'tcpsnoexist0' });
  t.is(err.code, 'ERR_PCAP_NO_DEVICE');
  t.true(err.message.includes('tcpsnoexist0'), err.message);
});

// ERR_PCAP_PERMISSION needs a process without capture rights. As root, a
// child process runs as `nobody` (it must be able to load the package);
// otherwise this process itself will do, unless it holds CAP_NET_RAW.
const NOBODY = 65534;
const CAP_NET_RAW = 13;

function hasCapNetRaw() {
  const line = readFileSync('/proc/self/status', 'utf8').split('\n').find((l) => l.startsWith('CapEff:'));
  return line !== undefined && ((BigInt(`0x${line.split(/\s+/)[1]}`) >> BigInt(CAP_NET_RAW)) & 1n) === 1n;
}

function unprivilegedRunner() {
  if (!isRoot) {
    if (hasCapNetRaw()) return { skip: 'this process may capture (CAP_NET_RAW) and is not root, so it cannot drop that right' };
    return { run: (code, args) => spawnSync(process.execPath, ['-e', code, ...args], { encoding: 'utf8', timeout: 20000 }) };
  }
  const asNobody = (code, args) => spawnSync(process.execPath, ['-e', code, ...args], { uid: NOBODY, gid: NOBODY, encoding: 'utf8', timeout: 20000 });
  const r = asNobody('require(process.argv[1]).binding()', [join(root, 'dist', 'native.js')]);
  if (r.error) return { skip: `cannot run a process as nobody: ${r.error.message}` };
  if (r.status !== 0) return { skip: `the project directory is not readable by nobody: ${r.stderr.split('\n').find(Boolean)}` };
  return { run: asNobody };
}
const unprivileged = unprivilegedRunner();

// Opens interface `lo` and an existing file it may not read; prints what
// each open() threw.
const PROBE = `
const { open } = require(process.argv[1]);
const attempt = (source) => { try { open(source); return { code: 'opened' }; } catch (e) { return { code: e.code, message: e.message }; } };
console.log(JSON.stringify({ live: attempt({ interface: 'lo' }), file: attempt({ file: process.argv[2] }) }));
`;

(unprivileged.skip ? test.skip : test)(
  `without capture rights: ERR_PCAP_PERMISSION live, ERR_PCAP_OPEN for an unreadable file${unprivileged.skip ? ` (skipped: ${unprivileged.skip})` : ''}`,
  (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'tcpsensor-perm-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    chmodSync(dir, 0o755);
    const secret = join(dir, 'unreadable.pcap');
    new TcpFlow().handshake().write(secret);
    // Readable by its owner only (root), or by nobody at all when the
    // tests run unprivileged themselves.
    chmodSync(secret, isRoot ? 0o600 : 0o000);

    const r = unprivileged.run(PROBE, [join(root, 'dist', 'index.js'), secret]);
    t.is(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    t.is(out.live.code, 'ERR_PCAP_PERMISSION', out.live.message);
    t.is(out.file.code, 'ERR_PCAP_OPEN', out.file.message);
    t.true(out.file.message.includes(secret), out.file.message);
  },
);
