// Live capture on a veth interface, with real TCP connections into a
// network namespace. Root only; CI needs the Debian package iproute2.
//
// Checksums: the kernel leaves TCP checksums to the (virtual) NIC, so the
// captured packets carry unfinished ones. As with Zeek on such hosts
// (zeek -C), the tests ignore checksums.
import test from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { spawnSync } from 'node:child_process';
import { conversations, inNamespace, talk, until, vethDown, vethWithServer, whyNoLiveCapture } from './helpers/netns.mjs';
import { PcapWriter, TcpFlow } from './helpers/pcap.mjs';
import { cliPath, collect, drain, ndjson, root, scratch, tcpsensor } from './helpers/run.mjs';

const { open, TcpsensorError } = tcpsensor;

const why = whyNoLiveCapture();
const live = why ? test.skip : test.serial;
const suffix = why ? ` (skipped: ${why})` : '';

const matches = (env, localPort) => (e) =>
  e.id.orig_h === env.hostAddr && e.id.orig_p === localPort && e.id.resp_h === env.serverAddr && e.id.resp_p === env.port;

live(`open({ interface }) sees real connections; stop() flushes the open one as at termination${suffix}`, async (t) => {
  const env = await vethWithServer(t);
  const sensor = open({ interface: env.iface }, { ignoreChecksums: true });
  t.teardown(() => sensor.close());
  const events = [];
  const reading = (async () => {
    for await (const ev of sensor) events.push(ev);
  })();

  const closed = await talk(env, 'first');
  await closed.end();
  const left = await talk(env, 'second');
  t.teardown(() => left.socket.destroy());
  const isClosed = matches(env, closed.localPort);
  const isLeft = matches(env, left.localPort);
  await until(() => events.some((e) => e.event === 'connection_established' && isLeft(e)), 5000, 'the second connection');
  await until(() => events.some((e) => e.event === 'connection_finished' && isClosed(e)), 5000, 'the first connection to finish');

  sensor.stop();
  await reading;
  t.true(sensor.closed);

  const of = (pred) => events.filter(pred).map((e) => e.event);
  // The closed connection: established, finished, removed; nothing pending.
  const first = of(isClosed);
  t.deepEqual(first.filter((n) => ['new_connection', 'connection_established', 'connection_finished', 'connection_state_remove'].includes(n)), ['new_connection', 'connection_established', 'connection_finished', 'connection_state_remove']);
  t.false(first.includes('connection_pending'));
  // The open one: established, then at stop() connection_pending and removal.
  const second = of(isLeft);
  t.deepEqual(second.filter((n) => n === 'new_connection' || n === 'connection_established'), ['new_connection', 'connection_established']);
  t.deepEqual(second.slice(-2), ['connection_pending', 'connection_state_remove']);
  const est = events.find((e) => e.event === 'connection_established' && isLeft(e));
  t.is(est.conn.history.slice(0, 2), 'Sh');

  const stats = sensor.stats();
  // At the least: 8 packets for the closed connection (ACKs riding on
  // data), 5 for the open one.
  t.true(stats.packetsReceived >= 13, `packetsReceived ${stats.packetsReceived}`);
  t.is(stats.eventsDroppedByQueue, 0);
  t.is(stats.malformed.bad_TCP_checksum, 0);
});

live(`live capture never waits for a stalled reader: it drops batches and counts their events${suffix}`, async (t) => {
  const env = await vethWithServer(t);
  // One event a batch and room for one batch: a reader that stops reading
  // leaves no room at all.
  const sensor = open({ interface: env.iface }, { ignoreChecksums: true, batchEvents: 1, highWaterMark: 1 });
  t.teardown(() => sensor.close());
  const it = sensor[Symbol.asyncIterator]();
  const delivered = [];
  const firstEvent = it.next(); // starts the capture; the reader then stalls

  const conversations = [];
  for (let i = 0; i < 5; i++) {
    const c = await talk(env, `stall ${i}`);
    await c.end();
    conversations.push(c);
  }
  delivered.push((await firstEvent).value);
  // Give the capture thread time to see everything while nobody reads.
  await new Promise((resolve) => setTimeout(resolve, 400));

  sensor.stop();
  for (let r = await it.next(); !r.done; r = await it.next()) delivered.push(r.value);
  const stats = sensor.stats();
  t.true(stats.eventsDroppedByQueue > 0, `eventsDroppedByQueue ${stats.eventsDroppedByQueue}`);
  t.true(stats.batchesDroppedByQueue > 0);
  // All the packets were taken (5 connections of at least 8 packets each).
  t.true(stats.packetsReceived >= 40, `packetsReceived ${stats.packetsReceived}`);
  // Nothing vanishes unaccounted: every event raised was delivered or counted as dropped.
  t.is(delivered.length + stats.eventsDroppedByQueue, stats.events);
});

live(`the CLI on an interface: SIGINT flushes the open connection and exits 0${suffix}`, async (t) => {
  const env = await vethWithServer(t);
  const child = spawn(process.execPath, [cliPath, '-i', env.iface, '-C', '--events', 'new_connection,connection_established,connection_pending,connection_state_remove'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => child.exitCode === null && child.kill('SIGKILL'));
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const exited = once(child, 'close');

  // The CLI gives no sign that its capture is up: connect until one
  // connection shows up established in its output (and stays open).
  let open_;
  for (let attempt = 0; attempt < 20 && !open_; attempt++) {
    const c = await talk(env, `attempt ${attempt}`);
    t.teardown(() => c.socket.destroy());
    try {
      await until(() => ndjson(stdout.slice(0, stdout.lastIndexOf('\n') + 1)).some((e) => e.event === 'connection_established' && matches(env, c.localPort)(e)), 1000);
      open_ = c;
    } catch {
      await c.end();
    }
  }
  t.truthy(open_, 'the CLI never reported a connection');

  child.kill('SIGINT');
  const [code, signal] = await exited;
  t.is(signal, null);
  t.is(code, 0, stderr);
  const out = ndjson(stdout).filter(matches(env, open_.localPort));
  t.deepEqual(out.map((e) => e.event), ['new_connection', 'connection_established', 'connection_pending', 'connection_state_remove']);
  // The capture-loss summary, in tcpdump's words.
  const [listening, ...summary] = stderr.split('\n').filter(Boolean);
  t.regex(listening, new RegExp(`^tcpsensor: listening on ${env.iface}, link-type EN10MB \\(Ethernet\\), snapshot length 262144 bytes$`));
  t.is(summary.length, 5, stderr);
  t.regex(summary[0], /^\d+ packets? captured$/);
  t.regex(summary[1], /^\d+ packets? received by filter$/);
  t.is(summary[2], '0 packets dropped by kernel');
  t.regex(summary[3], /^\d+ packets? dropped by interface$/);
  t.is(summary[4], '0 events dropped by queue (the reader fell behind)');
  t.true(Number(summary[0].split(' ')[0]) >= 5, summary[0]);
  t.true(Number(summary[1].split(' ')[0]) >= Number(summary[0].split(' ')[0]), stderr);
});

live(`an interface that is down is ERR_PCAP_INTERFACE_DOWN at open()${suffix}`, (t) => {
  const iface = vethDown(t);
  const err = t.throws(() => open({ interface: iface }), { instanceOf: TcpsensorError });
  t.is(err.code, 'ERR_PCAP_INTERFACE_DOWN');
  t.true(err.message.includes(iface), err.message);
});

// A live read with no traffic waits on a promise the capture thread
// settles; ending the sensor must settle it.
for (const how of ['close', 'stop', 'abort']) {
  live(`${how} ends an idle live capture promptly${suffix}`, async (t) => {
    const env = await vethWithServer(t);
    const controller = new AbortController();
    const sensor = open({ interface: env.iface }, { signal: controller.signal });
    t.teardown(() => sensor.close());
    const reading = drain(sensor);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const start = Date.now();
    if (how === 'abort') controller.abort();
    else sensor[how]();
    const { error } = await reading;
    t.true(Date.now() - start < 2000, `ended ${Date.now() - start} ms later`);
    t.true(sensor.closed);
    if (how === 'abort') t.is(error?.code, 'ABORT_ERR');
    else t.is(error, undefined);
  });
}

live(`stop() takes in every packet the kernel captured before it${suffix}`, async (t) => {
  const env = await vethWithServer(t);
  const sensor = open({ interface: env.iface }, { ignoreChecksums: true, events: ['connection_state_remove'] });
  t.teardown(() => sensor.close());
  const reading = drain(sensor);
  const ports = await conversations(env, 20);
  // No pause: whatever the capture thread has not read yet is still in the
  // kernel's ring, in a block it hands over later.
  sensor.stop();
  const { events, error } = await reading;
  t.is(error, undefined);
  const ours = new Map(events.filter((e) => e.id.resp_h === env.serverAddr).map((e) => [e.id.orig_p, e]));
  for (const port of ports) {
    const e = ours.get(port);
    t.truthy(e, `connection from port ${port} missing`);
    if (!e) continue;
    // Both FINs, and every packet of the conversation, were seen.
    t.regex(e.conn.history, /F/i);
    t.regex(e.conn.history, /f/);
    t.true(e.conn.orig.num_pkts + e.conn.resp.num_pkts >= 8, `${e.conn.history}: ${e.conn.orig.num_pkts} + ${e.conn.resp.num_pkts} packets`);
  }
  t.is(sensor.stats().packetsDroppedByKernel, 0);
});

live(`an interface taken down, or removed, mid-capture ends the iterator with ERR_PCAP_INTERFACE_DOWN${suffix}`, async (t) => {
  for (const how of ['down', 'delete']) {
    const env = await vethWithServer(t);
    const sensor = open({ interface: env.iface }, { ignoreChecksums: true });
    t.teardown(() => sensor.close());
    const reading = drain(sensor);
    const c = await talk(env, 'before');
    await c.end();
    await until(() => sensor.stats().packetsReceived >= 8, 5000, 'the conversation to be captured');
    spawnSync('ip', how === 'down' ? ['link', 'set', env.iface, 'down'] : ['link', 'del', env.iface]);
    const { events, error } = await reading;
    t.is(error?.code, 'ERR_PCAP_INTERFACE_DOWN', `${how}: ${error?.message}`);
    t.true(error?.message.includes(env.iface), error?.message);
    // What was captured before still came out, flushed as at termination.
    t.true(events.some((e) => e.event === 'connection_finished' && e.id.orig_p === c.localPort), how);
  }
});

live(`close() on an idle live capture returns at once${suffix}`, async (t) => {
  const env = await vethWithServer(t);
  const sensor = open({ interface: env.iface });
  const reading = drain(sensor);
  await new Promise((resolve) => setTimeout(resolve, 200));
  const start = process.hrtime.bigint();
  sensor.close();
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  await reading;
  // The thread wakes from its wait at once (an eventfd); the bound here is
  // loose for a loaded machine, bench:live measures the real figure.
  t.true(ms < 500, `close() took ${ms} ms`);
});

live(`stats records come on a quiet link too, every statsInterval${suffix}`, async (t) => {
  const env = await vethWithServer(t);
  const sensor = open({ interface: env.iface }, { ignoreChecksums: true, statsInterval: 0.2 });
  t.teardown(() => sensor.close());
  const records = [];
  sensor.on('stats', (r) => records.push(r));
  const reading = drain(sensor);
  await conversations(env, 3);
  await until(() => records.length >= 4, 5000, 'four stats records');
  sensor.stop();
  await reading;
  const stats = sensor.stats();
  // Intervals tile the capture: the counts add up to the totals.
  t.is(records.reduce((n, r) => n + r.pkts_proc, 0), stats.packetsReceived);
  t.is(records.reduce((n, r) => n + r.events_proc, 0), stats.events);
  t.is(records.reduce((n, r) => n + r.tcp_conns, 0), stats.connectionsTotal);
  t.is(records.reduce((n, r) => n + r.pkts_dropped, 0), 0);
  for (let i = 1; i < records.length; i++) t.true(records[i].ts >= records[i - 1].ts);
  t.true(records.every((r) => r.event === 'stats'));
});

// Checksum offload: the veth leaves TCP checksums to a NIC that does not
// exist, so every TCP packet sent from this host carries an unfinished one.
live(`checksum offload: Zeek's warning, raised where Node code sees it; the CLI prints it on stderr${suffix}`, async (t) => {
  const env = await vethWithServer(t);
  const sensor = open({ interface: env.iface }, { events: ['connection_established', 'conn_weird'] });
  t.teardown(() => sensor.close());
  const warnings = [];
  sensor.on('warning', (w) => warnings.push(w));
  const reading = drain(sensor);
  await conversations(env, 5);
  sensor.stop();
  const { events } = await reading;
  // The client's packets were all discarded: no connection got established.
  t.false(events.some((e) => e.event === 'connection_established' && e.id.resp_h === env.serverAddr));
  t.true(events.some((e) => e.event === 'conn_weird' && e.name === 'bad_TCP_checksum'));
  t.is(warnings.length, 1);
  const [w] = warnings;
  t.true(w instanceof tcpsensor.TcpsensorWarning);
  t.is(w.code, 'TCPSENSOR_CHECKSUM_OFFLOAD');
  t.true(w.detail.badTcpChecksums > 0);
  t.false(w.detail.validationDisabled);
  t.regex(w.message, /^Your interface is likely receiving invalid TCP checksums/);
  t.regex(w.message, /-C/);

  // The CLI: the same warning on stderr, before the summary.
  const child = spawn(process.execPath, [cliPath, '-i', env.iface, '--events', 'connection_established'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => child.exitCode === null && child.kill('SIGKILL'));
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  child.stdout.resume();
  const exited = once(child, 'close');
  // As tcpdump, it says when its capture is up.
  await until(() => stderr.includes('listening on'), 10000, 'the CLI to start capturing');
  await conversations(env, 5);
  child.kill('SIGINT');
  const [code] = await exited;
  t.is(code, 0, stderr);
  t.regex(stderr, /^tcpsensor: warning: Your interface is likely receiving invalid TCP checksums/m);
  t.regex(stderr, /packets captured/);
});

live(`checksums: 'auto' turns validation off once the first packets show offload${suffix}`, async (t) => {
  const env = await vethWithServer(t);
  const sensor = open({ interface: env.iface }, { checksums: 'auto', events: ['connection_established'] });
  t.teardown(() => sensor.close());
  const warnings = [];
  sensor.on('warning', (w) => warnings.push(w));
  const reading = drain(sensor);
  // Enough packets for the sample (1000), then conversations to analyse.
  await conversations(env, 150);
  await until(() => warnings.length > 0, 5000, 'the auto warning');
  const after = await conversations(env, 5);
  sensor.stop();
  const { events } = await reading;
  t.is(warnings.length, 1);
  t.true(warnings[0].detail.validationDisabled);
  t.regex(warnings[0].message, /turned checksum validation off/);
  const established = new Set(events.filter((e) => e.event === 'connection_established').map((e) => e.id.orig_p));
  for (const port of after) t.true(established.has(port), `connection from ${port} after the switch`);
});

// tcpreplay puts a trace on the wire (from inside the namespace); the live
// events must be the file's, timestamps aside.
const hasTcpreplay = spawnSync('tcpreplay', ['--version']).status === 0;
const replayTest = why || !hasTcpreplay ? test.skip : test.serial;
const replaySuffix = why ? suffix : hasTcpreplay ? '' : ' (skipped: tcpreplay is not installed)';

function replayTrace() {
  const w = new PcapWriter();
  const flows = [
    { client: '10.77.0.1:40001', server: '10.77.0.2:80' },
    { client: '10.77.0.3:40002', server: '10.77.0.2:443' },
    { client: '10.77.0.4:40003', server: '10.77.0.5:22' },
    { client: '[2001:db8:77::1]:40004', server: '[2001:db8:77::2]:80' },
  ];
  flows.forEach((ends, i) => {
    const f = new TcpFlow({ writer: w, ...ends, t0: 10 + i * 0.1, step: 0.01 });
    f.handshake();
    f.data('c', `request ${i}`);
    f.data('s', Buffer.alloc(3000 + i, 65 + i));
    if (i === 2) f.rst('s');
    else f.close();
  });
  // A refused attempt and a lone SYN.
  const refused = new TcpFlow({ writer: w, client: '10.77.0.6:40010', server: '10.77.0.2:25', t0: 11 });
  refused.syn();
  refused.rst('s', { flags: 'RA' });
  new TcpFlow({ writer: w, client: '10.77.0.7:40011', server: '10.77.0.8:8080', t0: 11.5 }).syn();
  w.sortByTime();
  return w.write(scratch('replay.pcap'));
}

const comparableLive = (events) =>
  events.map(({ ts: _ts, uid: _uid, conn, ...rest }) =>
    JSON.stringify({ ...rest, conn: { ...conn, start_time: undefined, duration: undefined } }, (k, v) => (v?.type === 'Buffer' ? Buffer.from(v.data).toString('hex') : v)),
  );

replayTest(`live equals file: a trace replayed onto the wire gives the file's events${replaySuffix}`, async (t) => {
  const env = await vethWithServer(t, { mtu: 9000 });
  const traces = [replayTrace(), `${root}/samples/sample.pcap`];
  for (const trace of traces) {
    const fileEvents = await collect(trace, { events: 'all', contentDeliverAllOrig: true, contentDeliverAllResp: true });
    const addresses = new Set(fileEvents.flatMap((e) => [e.id.orig_h, e.id.resp_h]));
    const sensor = open({ interface: env.iface }, { events: 'all', contentDeliverAllOrig: true, contentDeliverAllResp: true });
    t.teardown(() => sensor.close());
    const reading = drain(sensor);
    await inNamespace(env, 'tcpreplay', ['-q', '--topspeed', '-i', env.peer, trace]);
    sensor.stop();
    const { events, error } = await reading;
    t.is(error, undefined);
    // The host's own traffic on the link (neighbour discovery) aside.
    const liveEvents = events.filter((e) => addresses.has(e.id.orig_h) && addresses.has(e.id.resp_h));
    t.deepEqual(comparableLive(liveEvents), comparableLive(fileEvents), trace);
    t.true(fileEvents.length > 20);
  }
});
