// What a sensor says about its capture as a whole, beside the events:
// Zeek's checksum-offload warning and Suricata's auto mode, periodic stats
// records (stats.log, capture_loss.log), the Prometheus endpoint, and the
// CLI's manners (--help, --version, a mistyped flag).
import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { PcapWriter, TcpFlow } from './helpers/pcap.mjs';
import { cliPath, ndjson, runCli, scratch, tcpsensor } from './helpers/run.mjs';

const { open, TcpsensorWarning } = tcpsensor;
let n = 0;
const path = () => scratch(`health-${++n}.pcap`);

// Events and warnings of a file, each warning with the number of events
// that came before it.
async function read(file, options = {}) {
  const sensor = open({ file }, options);
  const events = [];
  const warnings = [];
  sensor.on('warning', (w) => warnings.push({ w, after: events.length }));
  for await (const ev of sensor) events.push(ev);
  return { events, warnings, stats: sensor.stats() };
}

// One connection talking every half second from t=100 to t=130; the
// client's packets carry a bad TCP checksum from `badFrom` on.
function chatty({ badFrom = 0, until = 130 } = {}) {
  const f = new TcpFlow({ t0: 100, step: 0.5, client: '10.1.0.1:40000', server: '10.1.0.2:80' });
  f.syn({ at: 100, checksum: badFrom <= 100 ? 1 : undefined });
  f.synAck();
  for (let at = 101; at <= until; at += 0.5) {
    if (at % 1 === 0) f.data('c', 'x', { at, checksum: at >= badFrom ? 1 : undefined });
    else f.ack('s', { at });
  }
  return f.write(path());
}

test("checksum offload (Zeek's rule): warned once, at the first look 10 s into the trace, in stream order", async (t) => {
  const { events, warnings } = await read(chatty(), { events: ['conn_weird', 'connection_SYN_packet', 'tcp_packet'] });
  t.is(warnings.length, 1);
  const [{ w, after }] = warnings;
  t.true(w instanceof TcpsensorWarning);
  t.is(w.name, 'TcpsensorWarning');
  t.is(w.code, 'TCPSENSOR_CHECKSUM_OFFLOAD');
  // The first packet at or after 100 + 10 s makes the look: 21 packets by
  // then, counted as it arrives; the client's 10 before it were bad.
  t.deepEqual(w.detail, { networkTime: 110, packets: 21, badIpChecksums: 0, badTcpChecksums: 10, badUdpChecksums: 0, validationDisabled: false });
  t.regex(w.message, /^Your trace file likely has invalid TCP checksums \(10 of 21 packets\), most likely from NIC checksum offloading\./);
  t.regex(w.message, /tcpsensor -C, or the ignoreChecksums option/);
  // Everything before 110 came out before the warning, the rest after.
  t.true(events.slice(0, after).every((e) => e.ts < 110));
  t.true(events.slice(after).every((e) => e.ts >= 110));
  t.true(after > 0 && after < events.length);
});

test('checksum offload: fine at the 10 s look with 20 packets seen, the look at the end still warns', async (t) => {
  const { warnings, events } = await read(chatty({ badFrom: 115 }), { events: ['conn_weird'] });
  t.is(warnings.length, 1);
  const last = events.at(-1).ts;
  t.is(warnings[0].w.detail.networkTime, last);
  t.is(warnings[0].after, events.length);
});

test('checksum offload: fewer than 20 packets at the 10 s look, it looks again 10 s later', async (t) => {
  const f = new TcpFlow({ t0: 100, client: '10.1.0.1:40000', server: '10.1.0.2:80' });
  f.handshake(); // 100.01 .. 100.03: 3 good packets
  for (let at = 105; at <= 125; at += 2) f.data('c', 'x', { at, checksum: 1 }); // 11 bad packets
  const { warnings } = await read(f.write(path()), { events: ['conn_weird'] });
  t.is(warnings.length, 1);
  // The look at 110.01 found bad ones already (3 of 7 packets)... 
  t.is(warnings[0].w.detail.networkTime, 111);
  t.is(warnings[0].w.detail.badTcpChecksums, 3);
});

test('checksum offload: no warning at 5% or less, none with checksums ignored', async (t) => {
  // 1 bad packet in 41: 2.4%.
  const f = new TcpFlow({ t0: 100, step: 0.5, client: '10.1.0.1:40000', server: '10.1.0.2:80' });
  f.handshake();
  for (let i = 0; i < 38; i++) f.data(i % 2 ? 's' : 'c', 'x', { checksum: i === 20 ? 1 : undefined });
  t.is((await read(f.write(path()))).warnings.length, 0);
  t.is((await read(chatty(), { ignoreChecksums: true })).warnings.length, 0);
});

test('checksum offload: with no warning listener, the warning goes to process.emitWarning', async (t) => {
  const seen = [];
  const onWarning = (w) => seen.push(w);
  process.on('warning', onWarning);
  try {
    for await (const _ of open({ file: chatty() })) {
      // drain
    }
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('warning', onWarning);
  }
  const ours = seen.filter((w) => w.code === 'TCPSENSOR_CHECKSUM_OFFLOAD');
  t.is(ours.length, 1);
  t.true(ours[0] instanceof TcpsensorWarning);
});

// 200 conversations of 8 packets, one after another, the client's packets
// all with bad TCP checksums: the first 1000 packets are conversations 0-124.
function offloaded() {
  const w = new PcapWriter();
  for (let i = 0; i < 200; i++) {
    const f = new TcpFlow({ writer: w, t0: 100 + i * 0.1, step: 0.001, client: `10.2.${i >> 8}.${i & 255}:40000`, server: '10.2.255.1:80' });
    const bad = { checksum: 1 };
    f.syn(bad);
    f.synAck();
    f.ack('c', bad);
    f.data('c', 'request', bad);
    f.data('s', 'reply');
    f.fin('c', bad);
    f.fin('s');
    f.ack('c', bad);
  }
  return w.write(path());
}

test("checksums: 'auto' stops validating after the first 1000 packets show offload; 'zeek' keeps discarding", async (t) => {
  const file = offloaded();
  const auto = await read(file, { checksums: 'auto', events: ['connection_established'] });
  t.is(auto.warnings.length, 1);
  t.deepEqual(auto.warnings[0].w.detail, { networkTime: 100 + 124 * 0.1 + 0.008, packets: 1000, badIpChecksums: 0, badTcpChecksums: 625, badUdpChecksums: 0, validationDisabled: true });
  t.regex(auto.warnings[0].w.message, /checksums: 'auto' has turned checksum validation off/);
  // Conversations 125-199 came after the switch: all established.
  const established = auto.events.map((e) => Number(e.id.orig_h.split('.')[3]) + 256 * Number(e.id.orig_h.split('.')[2]));
  t.deepEqual(established, Array.from({ length: 75 }, (_, i) => 125 + i));

  const zeek = await read(file, { events: ['connection_established'] });
  t.is(zeek.events.length, 0);
  t.is(zeek.warnings.length, 1);
  t.false(zeek.warnings[0].w.detail.validationDisabled);
  t.is(zeek.stats.malformed.bad_TCP_checksum, 1000);
});

test('the CLI prints the warning on stderr and still exits 0; -C silences it', async (t) => {
  const file = chatty();
  const r = await runCli(['-r', file]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /^tcpsensor: warning: Your trace file likely has invalid TCP checksums/);
  t.is(r.stderr.split('\n').filter(Boolean).length, 1);
  const quiet = await runCli(['-r', file, '-C']);
  t.is(quiet.stderr, '');
  const auto = await runCli(['-r', offloaded(), '--checksums', 'auto', '--events', 'connection_established']);
  t.is(ndjson(auto.stdout).length, 75);
  t.regex(auto.stderr, /turned checksum validation off/);
});

// Packets from 100 to 135 s: stats records every 10 s of network time.
function spanning() {
  const w = new PcapWriter();
  for (let i = 0; i < 36; i++) {
    const f = new TcpFlow({ writer: w, t0: 100 + i, step: 0.01, client: `10.3.0.${i + 1}:40000`, server: '10.3.1.1:80' });
    f.handshake();
    f.data('c', 'hi');
    f.data('s', 'there');
    f.close();
  }
  return w.write(path());
}

test('--stats-interval: stats records in the stream every interval of network time, tiling the run', async (t) => {
  const r = await runCli(['-r', spanning(), '--stats-interval', '10']);
  t.is(r.code, 0, r.stderr);
  const lines = ndjson(r.stdout);
  const records = lines.filter((l) => l.event === 'stats');
  // At 110, 120, 130 (each at the end of the read batch that crossed it),
  // and one at the end.
  t.is(records.length, 4);
  t.deepEqual(Object.keys(records[0]), [
    'ts', 'event', 'ts_delta', 'pkts_proc', 'pkts_link', 'pkts_dropped', 'pkts_ifdropped', 'percent_dropped', 'events_proc',
    'events_dropped', 'tcp_conns', 'active_tcp_conns', 'reassem_tcp_size', 'reassem_frag_size', 'mem', 'acks', 'gaps', 'percent_lost',
  ]);
  t.is(records.reduce((s, x) => s + x.pkts_proc, 0), 36 * 8);
  t.is(records.reduce((s, x) => s + x.tcp_conns, 0), 36);
  t.is(records.reduce((s, x) => s + x.events_proc, 0), lines.length - records.length);
  t.is(records.reduce((s, x) => s + x.ts_delta, 0).toFixed(6), (records.at(-1).ts - 100.01).toFixed(6));
  // Every ack of these conversations acks data that was seen.
  t.true(records.reduce((s, x) => s + x.acks, 0) > 0);
  t.true(records.every((x) => x.gaps === 0 && x.percent_lost === 0 && x.pkts_dropped === 0));
  // Each record sits between the events before and after it in time.
  let last = 0;
  for (const l of lines) {
    if (l.event === 'stats') {
      t.true(l.ts >= last);
      last = l.ts;
    } else {
      t.true(l.ts >= last || l.event === 'connection_state_remove', JSON.stringify(l));
    }
  }
});

test('statsInterval in the API: stats events, the last at the end of the stream', async (t) => {
  const sensor = open({ file: spanning() }, { statsInterval: 10 });
  const records = [];
  let events = 0;
  sensor.on('stats', (r) => records.push({ ...r, after: events }));
  for await (const _ of sensor) events++;
  t.is(records.length, 4);
  t.is(records.at(-1).after, events);
  t.is(records.reduce((s, x) => s + x.events_proc, 0), events);
});

test('capture loss: acks for data never seen are counted as gaps (capture_loss.log)', async (t) => {
  const f = new TcpFlow({ t0: 100, client: '10.4.0.1:40000', server: '10.4.0.2:80' });
  f.handshake();
  f.data('c', 'seen');
  f.ack('s');
  f.c.seq += 100; // 100 bytes the capture missed
  f.data('c', 'after the hole');
  f.ack('s');
  f.data('c', 'more');
  f.ack('s');
  const sensor = open({ file: f.write(path()) });
  for await (const _ of sensor) {
    // drain
  }
  const s = sensor.stats();
  t.is(s.ackEvents, 3);
  t.is(s.gapEvents, 1);
  t.is(s.gapBytes, 100);
});

test('--metrics-port: the counters in Prometheus text format while the capture runs', async (t) => {
  const fifo = scratch('metrics.fifo');
  execFileSync('mkfifo', [fifo]);
  const child = spawn(process.execPath, [cliPath, '-r', fifo, '--metrics-port', '0', '--events', 'new_connection'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => child.exitCode === null && child.kill('SIGKILL'));
  let stderr = '';
  let stdout = '';
  child.stderr.on('data', (d) => (stderr += d));
  child.stdout.on('data', (d) => (stdout += d));
  const exited = once(child, 'close');

  // Three conversations into the FIFO, which stays open.
  const writer = createWriteStream(fifo);
  const w = new PcapWriter();
  for (let i = 0; i < 3; i++) {
    const f = new TcpFlow({ writer: w, t0: 100 + i, client: `10.5.0.${i + 1}:40000`, server: '10.5.1.1:80' });
    f.handshake();
    f.close();
  }
  writer.write(w.toBuffer());
  const deadline = Date.now() + 10000;
  while (!/metrics at http:\/\/[^:]+:(\d+)\/metrics/.test(stderr) || ndjson(stdout).length < 3) {
    if (Date.now() > deadline) t.fail(`no metrics address or events: ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const port = Number(/metrics at http:\/\/[^:]+:(\d+)\/metrics/.exec(stderr)[1]);
  // Counters are published as the capture thread goes (at least at each
  // batch and every 16384 packets): poll until all 18 packets show.
  let text = '';
  while (!/^tcpsensor_packets_received_total 18$/m.test(text)) {
    if (Date.now() > deadline) break;
    text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  }
  t.regex(text, /^tcpsensor_packets_received_total 18$/m);
  t.regex(text, /^tcpsensor_connections_total 3$/m);
  t.regex(text, /^tcpsensor_packets_dropped_total\{where="kernel"\} 0$/m);
  t.regex(text, /^# TYPE tcpsensor_events_total counter$/m);
  t.regex(text, /^# HELP tcpsensor_connections_active /m);
  t.regex(text, /^process_cpu_user_seconds_total /m);
  t.is((await fetch(`http://127.0.0.1:${port}/other`)).status, 404);

  writer.end();
  const [code] = await exited;
  t.is(code, 0, stderr);
});

test('--help: every flag with its meaning, grouped; --version names tcpsensor, libpcap and Node.js', async (t) => {
  const help = await runCli(['--help']);
  t.is(help.code, 0);
  for (const heading of ['Input', 'What to report', 'Output', 'Analysis', 'Live capture', 'General']) t.regex(help.stdout, new RegExp(`^${heading}`, 'm'));
  for (const flag of ['--read', '--interface', '--filter', '--events', '--contents', '--format', '--stats-interval', '--metrics-port', '--checksums', '--set', '--snaplen', '--buffer-size', '--immediate-mode', '--version']) {
    t.regex(help.stdout, new RegExp(`${flag}\\b.* [a-z]`), flag);
  }
  t.regex(help.stdout, /--format ndjson\|conn .*\(default: ndjson\)/);
  const version = await runCli(['--version']);
  t.is(version.code, 0);
  const [ours, libpcap, node] = version.stdout.trim().split('\n');
  t.regex(ours, /^tcpsensor \d+\.\d+\.\d+/);
  t.regex(libpcap, /^libpcap version \d/);
  t.is(node, `Node.js ${process.version}`);
  t.is((await runCli(['-V'])).stdout, version.stdout);
});

test('a mistyped flag names the nearest known one', async (t) => {
  const r = await runCli(['--intreface', 'eth0']);
  t.is(r.code, 2);
  t.is(r.stderr, "tcpsensor: unknown flag '--intreface'; did you mean --interface? (see tcpsensor --help)\n");
  const far = await runCli(['--zzzzzzzz']);
  t.is(far.stderr, "tcpsensor: unknown flag '--zzzzzzzz' (see tcpsensor --help)\n");
  t.regex((await runCli(['-r', 'x.pcap', '--stats-intreval', '5'])).stderr, /did you mean --stats-interval\?/);
});
