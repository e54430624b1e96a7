// Live capture on a veth interface, with real TCP connections into a
// network namespace. Root only; CI needs the Debian package iproute2.
//
// Checksums: the kernel leaves TCP checksums to the (virtual) NIC, so the
// captured packets carry unfinished ones. As with Zeek on such hosts
// (zeek -C), the tests ignore checksums.
import test from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { talk, until, vethDown, vethWithServer, whyNoLiveCapture } from './helpers/netns.mjs';
import { cliPath, drain, ndjson, tcpsensor } from './helpers/run.mjs';

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
  t.is(stderr, '');
  const out = ndjson(stdout).filter(matches(env, open_.localPort));
  t.deepEqual(out.map((e) => e.event), ['new_connection', 'connection_established', 'connection_pending', 'connection_state_remove']);
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
