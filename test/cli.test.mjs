// The tcpsensor command: NDJSON and conn.log output, its options, its exit
// codes and messages, signals and a reader that goes away.
import test from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { PcapWriter, TcpFlow, ether, ipv4, tcp, tcpOptions } from './helpers/pcap.mjs';
import { attemptTrace, manyConnections, tupleKey } from './helpers/traces.mjs';
import { cliPath, collect, ndjson, runCli, scratch } from './helpers/run.mjs';

const lines = (text) => text.split('\n').filter(Boolean);

// Two HTTP-like conversations on ports 80 and 8080 (IPv4), one on IPv6.
const CONVERSATIONS = [
  { client: '10.9.1.1:41000', server: '10.9.1.2:80', request: 'GET /a HTTP/1.1\r\n\r\n', reply: 'HTTP/1.1 200 OK\r\n\r\nA' },
  { client: '10.9.1.1:41001', server: '10.9.1.3:8080', request: 'GET /b HTTP/1.1\r\n\r\n', reply: 'HTTP/1.1 404 Not Found\r\n\r\n' },
  { client: '[2001:db8::1]:41002', server: '[2001:db8::2]:80', request: 'PUT /c', reply: 'OK' },
];
const web = (() => {
  const w = new PcapWriter();
  CONVERSATIONS.forEach((c, i) => {
    const f = new TcpFlow({ writer: w, client: c.client, server: c.server, t0: 100 + i, step: 0.01 });
    f.handshake();
    f.data('c', c.request);
    f.data('s', c.reply);
    f.close();
  });
  return w.write(scratch('web.pcap'));
})();

const idOf = (c) => {
  const split = (s) => {
    const i = s.lastIndexOf(':');
    return [s.slice(0, i).replace(/^\[|\]$/g, ''), Number(s.slice(i + 1))];
  };
  const [orig_h, orig_p] = split(c.client);
  const [resp_h, resp_p] = split(c.server);
  return { orig_h, orig_p, resp_h, resp_p };
};

// As the CLI promises to write an event: JSON, byte arguments in base64.
const asJson = (ev) => JSON.parse(JSON.stringify(ev, function (key, v) {
  return Buffer.isBuffer(this[key]) ? this[key].toString('base64') : v;
}));

test('-r prints one JSON event a line: the crafted connections, as the API reports them', async (t) => {
  const r = await runCli(['-r', web]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stderr, '');
  const out = ndjson(r.stdout);
  t.deepEqual(out.filter((e) => e.event === 'new_connection').map((e) => e.id), CONVERSATIONS.map(idOf));
  t.deepEqual(out.filter((e) => e.event === 'new_connection').map((e) => e.ts), [100.01, 101.01, 102.01]);
  // One uid per connection, the same on all of its events.
  const uids = new Map();
  for (const e of out) {
    const key = tupleKey(e.id);
    t.is(uids.get(key) ?? e.uid, e.uid);
    uids.set(key, e.uid);
  }
  t.is(new Set(uids.values()).size, 3);
  t.deepEqual(out, (await collect(web)).map(asJson));
});

test('-r - reads the capture from standard input, as tcpdump does', async (t) => {
  const fromFile = await runCli(['-r', web]);
  const fromStdin = await runCli(['-r', '-'], { input: readFileSync(web) });
  t.is(fromStdin.code, 0, fromStdin.stderr);
  t.is(fromStdin.stdout, fromFile.stdout);
  const empty = await runCli(['-r', '-'], { input: '' });
  t.is(empty.code, 1);
  t.regex(empty.stderr, /^tcpsensor: '-' is not a readable pcap or pcapng file/);
});

test('byte arguments are base64', async (t) => {
  const r = await runCli(['-r', web, '--events', 'tcp_contents', '--contents', 'all']);
  t.is(r.code, 0, r.stderr);
  const out = ndjson(r.stdout);
  const first = out.find((e) => e.is_orig && e.id.resp_p === 8080);
  t.is(Buffer.from(first.contents, 'base64').toString(), CONVERSATIONS[1].request);
});

test('every event with bytes writes them as base64, never as a serialized Buffer object', async (t) => {
  // Payloads (tcp_packet), option data (tcp_options), stream bytes, and an
  // inconsistent retransmission (t1, t2).
  const w = new PcapWriter();
  const f = new TcpFlow({ writer: w, client: '10.9.2.1:41000', server: '10.9.2.2:80', t0: 10, step: 0.01 });
  f.handshake();
  f.data('c', 'abcdef');
  f.packet('c', { flags: 'PA', seq: (f.c.seq - 6) >>> 0, payload: Buffer.from('abXdef') });
  f.packet('s', { flags: 'A', options: tcpOptions([{ raw: [99, 4, 0xde, 0xad] }]) });
  f.close();
  const file = w.write(scratch('bytes.pcap'));
  const r = await runCli(['-r', file, '--events', 'tcp_packet,tcp_options,tcp_contents,rexmit_inconsistency', '--contents', 'all']);
  t.is(r.code, 0, r.stderr);
  const out = ndjson(r.stdout);
  const kinds = new Set(out.map((e) => e.event));
  for (const k of ['tcp_packet', 'tcp_options', 'tcp_contents', 'rexmit_inconsistency']) t.true(kinds.has(k), k);
  t.false(r.stdout.includes('"type":"Buffer"'));
  const unknown = out.find((e) => e.event === 'tcp_options' && e.options[0].kind === 99);
  t.is(Buffer.from(unknown.options[0].data, 'base64').toString('hex'), 'dead');
  const inconsistency = out.find((e) => e.event === 'rexmit_inconsistency');
  t.is(Buffer.from(inconsistency.t2, 'base64').toString(), 'abXdef');
});

test('--events a,b prints exactly those events, as they are in the full output', async (t) => {
  const wanted = ['connection_established', 'connection_finished'];
  const [some, every] = await Promise.all([runCli(['-r', web, '--events', wanted.join(',')]), runCli(['-r', web, '--events', 'all'])]);
  t.is(some.code, 0, some.stderr);
  t.is(every.code, 0, every.stderr);
  const filtered = ndjson(some.stdout);
  t.is(filtered.length, 6);
  t.deepEqual(filtered.map((e) => [e.event, e.uid, e.ts]), ndjson(every.stdout).filter((e) => wanted.includes(e.event)).map((e) => [e.event, e.uid, e.ts]));
  // 'all' includes the per-packet events: one tcp_packet per packet.
  t.is(ndjson(every.stdout).filter((e) => e.event === 'tcp_packet').length, 24);
});

test('--format conn writes conn.log rows: SF for a clean close, S0 for an unanswered SYN, REJ for SYN→RST', async (t) => {
  const w = new PcapWriter();
  const sf = new TcpFlow({ writer: w, client: '10.9.2.1:1001', server: '10.9.2.9:80', t0: 10, step: 0.5 });
  sf.handshake();
  sf.data('c', 'hello');
  sf.data('s', 'world!');
  sf.close();
  new TcpFlow({ writer: w, client: '10.9.2.2:1002', server: '10.9.2.9:80', t0: 20 }).syn();
  const rej = new TcpFlow({ writer: w, client: '10.9.2.3:1003', server: '10.9.2.9:81', t0: 30 });
  rej.syn();
  rej.packet('s', { flags: 'RA', seq: 0 }); // what a closed port answers
  const file = w.write(scratch('conn-states.pcap'));

  const r = await runCli(['-r', file, '--format', 'conn']);
  t.is(r.code, 0, r.stderr);
  const rows = ndjson(r.stdout);
  t.is(rows.length, 3);
  const row = (host) => rows.find((x) => x['id.orig_h'] === host);

  const a = row('10.9.2.1');
  t.like(a, { conn_state: 'SF', ts: 10.5, uid: a.uid, 'id.orig_p': 1001, 'id.resp_h': '10.9.2.9', 'id.resp_p': 80, proto: 'tcp' });
  // Zeek's history: first SYN, SYN-ACK, ACK, data each way, FIN each way.
  t.is(a.history, 'ShADdFf');
  t.like(a, { orig_bytes: 5, resp_bytes: 6, missed_bytes: 0, orig_pkts: 5, resp_pkts: 3 });
  t.is(a.duration, 3);
  t.regex(a.uid, /^C[0-9A-Za-z]+$/);
  t.is(a.event, undefined);

  const b = row('10.9.2.2');
  t.like(b, { conn_state: 'S0', history: 'S', orig_pkts: 1, resp_pkts: 0, orig_ip_bytes: 40, resp_ip_bytes: 0 });
  // As Zeek: no duration or sizes for a connection of one packet.
  t.false('duration' in b);

  t.like(row('10.9.2.3'), { conn_state: 'REJ', history: 'Sr', 'id.resp_p': 81, orig_pkts: 1, resp_pkts: 1 });
});

test('--set tcp_attempt_delay=1 makes connection_attempt fire 1 s after the SYN instead of 5 s', async (t) => {
  const file = attemptTrace().write(scratch('cli-attempt.pcap'));
  const attempt = async (...extra) => {
    const r = await runCli(['-r', file, '--events', 'connection_attempt', ...extra]);
    t.is(r.code, 0, r.stderr);
    return ndjson(r.stdout).map((e) => [e.ts, e.id.orig_h]);
  };
  t.deepEqual(await attempt(), [[105.25, '10.5.0.1']]);
  t.deepEqual(await attempt('--set', 'tcp_attempt_delay=1'), [[101.25, '10.5.0.1']]);
  t.deepEqual(await attempt('--set', 'tcp_attempt_delay=2 secs'), [[102.25, '10.5.0.1']]);
});

test('--contents orig:80 delivers tcp_contents only for the originator side of port-80 connections', async (t) => {
  const none = await runCli(['-r', web, '--events', 'tcp_contents']);
  t.is(none.code, 0, none.stderr);
  t.is(none.stdout, '', 'no content delivery unless asked');

  const r = await runCli(['-r', web, '--events', 'tcp_contents', '--contents', 'orig:80']);
  t.is(r.code, 0, r.stderr);
  const out = ndjson(r.stdout);
  t.true(out.length > 0);
  for (const e of out) {
    t.true(e.is_orig);
    t.is(e.id.resp_p, 80);
  }
  // Everything the two port-80 clients sent, and nothing else.
  const sent = (resp_h) => out.filter((e) => e.id.resp_h === resp_h).map((e) => Buffer.from(e.contents, 'base64').toString()).join('');
  t.is(sent('10.9.1.2'), CONVERSATIONS[0].request);
  t.is(sent('2001:db8::2'), CONVERSATIONS[2].request);

  const resp = ndjson((await runCli(['-r', web, '--events', 'tcp_contents', '--contents', 'resp:8080'])).stdout);
  t.deepEqual([...new Set(resp.map((e) => `${e.is_orig} ${e.id.resp_p}`))], ['false 8080']);
});

test('-f applies a BPF filter and -C ignores checksums', async (t) => {
  const filtered = ndjson((await runCli(['-r', web, '-f', 'tcp port 8080', '--events', 'new_connection'])).stdout);
  t.deepEqual(filtered.map((e) => e.id.resp_p), [8080]);

  const w = new PcapWriter();
  const seg = tcp({ sport: 3000, dport: 80, flags: 'S', seq: 7, src: '10.9.3.1', dst: '10.9.3.2' });
  w.add(1, ether(ipv4({ src: '10.9.3.1', dst: '10.9.3.2', payload: seg, checksum: 0xbad })));
  const file = w.write(scratch('bad-ip-checksum.pcap'));
  t.is((await runCli(['-r', file, '--events', 'new_connection'])).stdout, '');
  t.is(ndjson((await runCli(['-r', file, '-C', '--events', 'new_connection'])).stdout).length, 1);
});

const USAGE_ERRORS = [
  ['an unknown flag', ['--bogus']],
  ['-r without its value', ['-r']],
  ['both -r and -i', ['-r', web, '-i', 'lo']],
  ['neither -r nor -i', ['--events', 'all']],
  ['an unknown --format', ['-r', web, '--format', 'xml']],
  ['a malformed --contents', ['-r', web, '--contents', 'sideways:80']],
  ['a port out of range in --contents', ['-r', web, '--contents', 'orig:70000']],
  ['--set of an unknown tunable', ['-r', web, '--set', 'tcp_bogus_delay=1']],
  ['--set without a value', ['-r', web, '--set', 'tcp_attempt_delay']],
  ['--set with a value that is not a number', ['-r', web, '--set', 'tcp_attempt_delay=soon']],
  ['--set with a value out of range', ['-r', web, '--set', 'tcp_attempt_delay=-1']],
  ['--events naming an unknown event', ['-r', web, '--events', 'new_connection,connection_exploded']],
];

for (const [title, args] of USAGE_ERRORS) {
  test(`usage error, exit 2 with one line on stderr: ${title}`, async (t) => {
    const r = await runCli(args);
    t.is(r.code, 2, r.stderr);
    t.is(lines(r.stderr).length, 1, r.stderr);
    t.regex(r.stderr, /^tcpsensor: /);
    t.is(r.stdout, '');
  });
}

test('--help prints the usage and exits 0', async (t) => {
  const r = await runCli(['--help']);
  t.is(r.code, 0);
  t.regex(r.stdout, /usage: tcpsensor/);
});

test('a missing file: exit 1, one line naming the path', async (t) => {
  const path = scratch('no-such-capture.pcap');
  const r = await runCli(['-r', path]);
  t.is(r.code, 1);
  t.is(lines(r.stderr).length, 1, r.stderr);
  t.true(r.stderr.includes(path), r.stderr);
  t.is(r.stdout, '');
});

test('a file that is not a capture, or an invalid filter: exit 1, one line', async (t) => {
  const text = scratch('not-a-capture.txt');
  writeFileSync(text, 'hello\n'.repeat(10));
  for (const args of [['-r', text], ['-r', web, '-f', 'tcp port']]) {
    const r = await runCli(args);
    t.is(r.code, 1, args.join(' '));
    t.is(lines(r.stderr).length, 1, r.stderr);
    t.is(r.stdout, '');
  }
});

test('a capture cut short: the events are all written, then exit 1 with one line', async (t) => {
  const f = new TcpFlow({ t0: 7 });
  f.handshake();
  f.data('c', 'cut here');
  const full = f.writer.toBuffer();
  const cut = scratch('cut.pcap');
  writeFileSync(cut, full.subarray(0, full.length - 4));
  const r = await runCli(['-r', cut]);
  t.is(r.code, 1);
  t.is(lines(r.stderr).length, 1, r.stderr);
  const out = ndjson(r.stdout);
  // The handshake's events and the end-of-input flush came out first.
  t.true(out.some((e) => e.event === 'connection_established'));
  t.is(out.at(-1).event, 'connection_state_remove');
});

// Interrupting: a trace of overlapping connections, much more output than
// a pipe holds, so the CLI is held up by its reader when the signal comes.
const busy = manyConnections({ connections: 3000 });
const busyFile = busy.writer.write(scratch('busy.pcap'));

async function interrupted(signal) {
  const child = spawn(process.execPath, [cliPath, '-r', busyFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const closed = once(child, 'close');
  // The first output shows the CLI is running (its handlers are set);
  // then nobody reads for a while, so the pipe fills and the CLI waits.
  const [first] = await once(child.stdout, 'data');
  stdout += first;
  child.stdout.pause();
  await new Promise((resolve) => setTimeout(resolve, 300));
  child.kill(signal);
  child.stdout.on('data', (d) => (stdout += d));
  child.stdout.resume();
  const [code, sig] = await closed;
  return { code, signal: sig, stdout, stderr };
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  test(`${signal} while the output is held up: exit 0, open connections flushed as at termination`, async (t) => {
    const r = await interrupted(signal);
    t.is(r.signal, null);
    t.is(r.code, 0, r.stderr);
    t.is(r.stderr, '');
    const out = ndjson(r.stdout); // every line complete JSON
    const started = out.filter((e) => e.event === 'new_connection').map((e) => e.uid);
    t.true(started.length > 0);
    t.true(started.length < busy.connections.length, 'stopped before the end of the file');
    // Every connection that began is removed, once.
    const removed = out.filter((e) => e.event === 'connection_state_remove').map((e) => e.uid);
    t.deepEqual([...removed].sort(), [...started].sort());
    // Some were open at the stop and are reported as Zeek does at termination.
    const pending = out.filter((e) => e.event === 'connection_pending');
    t.true(pending.length > 0);
    // The output ends with the flush.
    t.is(out.at(-1).event, 'connection_state_remove');
    const lastPending = out.findLastIndex((e) => e.event === 'connection_pending');
    for (const e of out.slice(lastPending + 1)) t.is(e.event, 'connection_state_remove');
  });
}

test('a reader that goes away (stdout closed early) ends the CLI quietly with exit 0', async (t) => {
  const child = spawn(process.execPath, [cliPath, '-r', busyFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const closed = once(child, 'close');
  await once(child.stdout, 'data');
  child.stdout.destroy();
  const [code, signal] = await closed;
  t.is(signal, null);
  t.is(code, 0);
  t.is(stderr, '');
});

test('tcpsensor -r big.pcap | head -1: exit 0, nothing on stderr', async (t) => {
  // bash for PIPESTATUS: the CLI's own exit status, not head's.
  const script = `"${process.execPath}" "${cliPath}" -r "${busyFile}" | head -1; echo "cli-exit=\${PIPESTATUS[0]}" >&2`;
  const child = spawn('bash', ['-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const [code] = await once(child, 'close');
  t.is(code, 0);
  t.is(stderr, 'cli-exit=0\n');
  t.is(lines(stdout).length, 1);
  t.is(typeof JSON.parse(stdout).event, 'string');
});
