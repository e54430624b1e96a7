// The NATS JetStream sink against a real nats-server (-js), one per test,
// on 127.0.0.1 with a store directory of its own. Skipped, with the reason,
// where nats-server is not installed.
import test from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { addStream, closedPort, readStream, startNatsServer, streamInfo, whyNoNatsServer } from './helpers/nats.mjs';
import { talk, until, vethWithServer, whyNoLiveCapture } from './helpers/netns.mjs';
import { cliPath, ndjson, root, runCli, scratch, tcpsensor } from './helpers/run.mjs';
import { manyConnections } from './helpers/traces.mjs';

const { open, natsSink, TcpsensorError } = tcpsensor;

const why = whyNoNatsServer();
const nats = why ? test.skip : test;
const natsSerial = why ? test.skip : test.serial;
const suffix = why ? ` (skipped: ${why})` : '';

let traces = 0;
// A trace of `connections` short conversations (8 packets, ~10 events each
// with every event and contents), in the test's scratch directory.
function trace(connections, options = {}) {
  return manyConnections({ connections, ...options }).writer.write(scratch(`nats-${traces++}.pcap`));
}

// What the file-mode CLI writes for this trace: the reference every
// published stream is compared with.
async function cliLines(args) {
  const r = await runCli(args);
  if (r.code !== 0) throw new Error(`tcpsensor ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout.split('\n').filter(Boolean);
}

const ALL = { events: 'all', contentDeliverAllOrig: true, contentDeliverAllResp: true };
const ALL_ARGS = ['--events', 'all', '--contents', 'all'];

nats(`every line of a file arrives once, as the file-mode NDJSON, on <prefix>.<sensor>.<event>, from the API and from the CLI${suffix}`, async (t) => {
  const server = await startNatsServer(t);
  const file = trace(300);
  // Stats records travel too, where they fall, on ….stats.
  const expected = await cliLines(['-r', file, ...ALL_ARGS, '--stats-interval', '0.01']);
  t.true(expected.some((l) => JSON.parse(l).event === 'stats'));
  t.true(expected.some((l) => JSON.parse(l).event === 'tcp_contents'));

  const sink = await natsSink({ servers: server.url, sensorName: 'api', runId: 'run1' });
  t.is(sink.streamName, 'TCPSENSOR');
  t.deepEqual(sink.streamSubjects, ['tcpsensor.>']);
  t.true(sink.streamCreated);
  const stats = await open({ file }, { ...ALL, statsInterval: 0.01 }).pipeTo(sink);
  t.like(stats, { messages: expected.length, acknowledged: expected.length, duplicates: 0, pending: 0, dropped: 0 });

  const cli = await runCli(['-r', file, ...ALL_ARGS, '--stats-interval', '0.01', '--output', server.url, '--sensor-name', 'cli']);
  t.is(cli.code, 0, cli.stderr);
  t.is(cli.stdout, '');
  t.is(cli.stderr, '');

  for (const sensor of ['api', 'cli']) {
    const got = await readStream(server.url, 'TCPSENSOR', `tcpsensor.${sensor}.>`);
    t.deepEqual(got.map((m) => m.data), expected, sensor);
    t.deepEqual(got.map((m) => m.subject), expected.map((l) => `tcpsensor.${sensor}.${JSON.parse(l).event}`), sensor);
    // One id per line: sensor, run, position in the output.
    const ids = got.map((m) => m.msgId.split(':'));
    t.true(ids.every(([name, , seq], i) => name === sensor && Number(seq) === i + 1), sensor);
    t.is(new Set(ids.map(([, run]) => run)).size, 1);
  }
  t.is((await streamInfo(server.url, 'TCPSENSOR')).state.messages, 2 * expected.length);
});

nats(`two sensors publish different traces into one stream; the example consumer reads them back as one conn.log${suffix}`, async (t) => {
  const server = await startNatsServer(t);
  const a = trace(150, { server: '10.200.0.1:80' });
  const b = trace(200, { server: '10.201.0.1:443', t0: 2000 });
  const rows = [...(await cliLines(['-r', a, '--format', 'conn'])), ...(await cliLines(['-r', b, '--format', 'conn']))];
  t.is(rows.length, 350);

  // Both at once, as sensors on two hosts would: one creates the stream,
  // the other finds it (whichever comes first).
  const common = ['--format', 'conn', '--output', server.url, '--stream', 'SENSORS', '--subject-prefix', 'corp.tcp'];
  const [ra, rb] = await Promise.all([runCli(['-r', a, ...common, '--sensor-name', 'edge-a']), runCli(['-r', b, ...common, '--sensor-name', 'edge-b'])]);
  t.is(ra.code, 0, ra.stderr);
  t.is(rb.code, 0, rb.stderr);
  const info = await streamInfo(server.url, 'SENSORS');
  t.deepEqual(info.config.subjects, ['corp.tcp.>']);
  t.is(info.config.storage, 'file');
  t.is(info.state.messages, 350);

  const consumer = await runNode([join(root, 'examples', 'nats-conn-log.mjs'), '--server', server.url, '--stream', 'SENSORS', '--prefix', 'corp.tcp']);
  t.is(consumer.code, 0, consumer.stderr);
  t.deepEqual(consumer.stdout.split('\n').filter(Boolean).sort(), rows.sort());

  // Zeek's TSV: a header, then one row per connection.
  const tsv = await runNode([join(root, 'examples', 'nats-conn-log.mjs'), '--server', server.url, '--stream', 'SENSORS', '--prefix', 'corp.tcp', '--tsv']);
  t.is(tsv.code, 0, tsv.stderr);
  const lines = tsv.stdout.split('\n').filter(Boolean);
  const fields = lines.find((l) => l.startsWith('#fields')).split('\t').slice(1);
  const body = lines.filter((l) => !l.startsWith('#'));
  t.is(body.length, 350);
  const uids = new Set(ndjson(rows.join('\n')).map((r) => r.uid));
  t.true(body.every((l) => uids.has(l.split('\t')[fields.indexOf('uid')])));
  t.regex(lines.at(-1), /^#close\t\d{4}(-\d\d){5}$/);
});

function runNode(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

natsSerial(`the broker killed (SIGKILL) in the middle of a file run and restarted: the stream ends with exactly the file's lines, no gap, no duplicate${suffix}`, async (t) => {
  const server = await startNatsServer(t);
  const file = trace(1000);
  const expected = await cliLines(['-r', file, ...ALL_ARGS]);
  t.true(expected.length > 20000, `${expected.length} lines`);

  const sink = await natsSink({ servers: server.url, sensorName: 'crash', window: 16 });
  const disconnected = once(sink, 'disconnect');
  const reconnected = once(sink, 'reconnect');
  // The kill lands when a third of the lines are acknowledged: from inside
  // the pipe, so the run cannot have ended first however busy the machine.
  let restarted;
  const killing = {
    start: (c) => sink.start(c),
    write(batch) {
      if (!restarted && sink.stats().acknowledged >= expected.length / 3) {
        restarted = (async () => {
          const before = sink.stats();
          await server.kill('SIGKILL');
          await disconnected;
          await server.restart();
          return before;
        })();
      }
      return sink.write(batch);
    },
    end: () => sink.end(),
    abort: (r) => sink.abort(r),
  };
  const stats = await open({ file }, ALL).pipeTo(killing);
  t.truthy(restarted, 'the broker was killed during the run');
  const before = await restarted;
  await reconnected;
  t.true(before.acknowledged < expected.length);
  t.like(stats, { messages: expected.length, acknowledged: expected.length, pending: 0, dropped: 0 });
  t.true(stats.disconnects >= 1);
  t.true(stats.resent >= 1);
  t.log(`killed after ${before.acknowledged} of ${expected.length} acknowledged; ${stats.resent} resent, ${stats.duplicates} copies removed by the stream as duplicates`);

  const got = await readStream(server.url, 'TCPSENSOR');
  t.is(got.length, expected.length);
  const bySeq = new Map(got.map((m) => [Number(m.msgId.split(':')[2]), m.data]));
  t.is(bySeq.size, expected.length, 'no duplicate');
  t.deepEqual([...bySeq.keys()].sort((x, y) => x - y), expected.map((_, i) => i + 1), 'no gap');
  t.deepEqual(expected.map((_, i) => bySeq.get(i + 1)), expected);
});

nats(`acknowledgements that come late: the message is sent again with its id and the stream keeps one copy${suffix}`, async (t) => {
  const server = await startNatsServer(t);
  const file = trace(200);
  const expected = await cliLines(['-r', file]);
  // Every acknowledgement is late after a millisecond: resends galore.
  const sink = await natsSink({ servers: server.url, sensorName: 'impatient', ackTimeout: 0.001 });
  const stats = await open({ file }).pipeTo(sink);
  t.like(stats, { messages: expected.length, acknowledged: expected.length, pending: 0 });
  t.true(stats.resent > 0 && stats.duplicates > 0, JSON.stringify(stats));
  const got = await readStream(server.url, 'TCPSENSOR');
  t.is(got.length, expected.length);
  t.deepEqual(new Set(got.map((m) => m.data)).size, new Set(expected).size);
  t.deepEqual(got.map((m) => m.data).sort(), [...expected].sort());
});

nats(`a broker that cannot be reached at the start: ERR_SINK_CONNECT from the API, one line and exit status 1 from the CLI${suffix}`, async (t) => {
  const port = await closedPort();
  const url = `nats://127.0.0.1:${port}`;
  const err = await t.throwsAsync(natsSink({ servers: url }), { instanceOf: TcpsensorError });
  t.is(err.code, 'ERR_SINK_CONNECT');
  t.true(err.message.includes(url), err.message);

  const r = await runCli(['-r', trace(5), '--output', url]);
  t.is(r.code, 1);
  t.is(r.stdout, '');
  t.is(r.stderr, `tcpsensor: ${err.message}\n`);
});

nats(`options and streams: bad values are TypeError/RangeError or usage errors; limits apply to a created stream; an existing stream is used only if it takes our subjects${suffix}`, async (t) => {
  const server = await startNatsServer(t);
  await t.throwsAsync(natsSink({ servers: server.url, sensorName: 'a.b' }), { instanceOf: RangeError });
  await t.throwsAsync(natsSink({ servers: server.url, subjectPrefix: 'x.*' }), { instanceOf: RangeError });
  await t.throwsAsync(natsSink({ servers: server.url, window: 0 }), { instanceOf: RangeError });
  await t.throwsAsync(natsSink({ servers: [] }), { instanceOf: TypeError });
  const usage = await runCli(['-r', trace(1), '--nats-window', '8']);
  t.is(usage.code, 2);
  t.regex(usage.stderr, /--nats-window applies to --output nats:\/\/\.\.\. only/);

  // Created by the CLI with the limits given.
  const r = await runCli(['-r', trace(3), '--output', server.url, '--stream', 'LIMITED', '--stream-max-age', '3600', '--stream-max-bytes', '1048576', '--stream-duplicate-window', '30']);
  t.is(r.code, 0, r.stderr);
  const info = await streamInfo(server.url, 'LIMITED');
  t.like(info.config, { max_age: 3600e9, max_bytes: 1048576, duplicate_window: 30e9, storage: 'file', subjects: ['tcpsensor.>'] });

  // An operator's stream for one sensor: used by that sensor, refused to another.
  await addStream(server.url, { name: 'ONE', subjects: ['ops.edge1.>'] });
  const sink = await natsSink({ servers: server.url, stream: 'ONE', subjectPrefix: 'ops', sensorName: 'edge1' });
  t.false(sink.streamCreated);
  t.like(await sink.end(), { messages: 0 });
  const refused = await t.throwsAsync(natsSink({ servers: server.url, stream: 'ONE', subjectPrefix: 'ops', sensorName: 'edge2' }), { instanceOf: TcpsensorError });
  t.is(refused.code, 'ERR_SINK_STREAM');
  t.regex(refused.message, /do not take ops\.edge2\.\*/);
});

nats(`live semantics ('drop'): with the broker down every line is dropped and counted at once; with the window full the excess is dropped and the rest stored${suffix}`, async (t) => {
  const server = await startNatsServer(t);
  const file = trace(200);
  const expected = await cliLines(['-r', file]);

  // The window full: one message in flight at a time, and nothing waits.
  const narrow = await natsSink({ servers: server.url, sensorName: 'narrow', whenBlocked: 'drop', window: 1 });
  const s1 = await open({ file }).pipeTo(narrow);
  t.is(s1.messages, expected.length);
  t.true(s1.droppedWindowFull > 0, JSON.stringify(s1));
  t.is(s1.acknowledged + s1.dropped, expected.length);
  const stored = await readStream(server.url, 'TCPSENSOR', 'tcpsensor.narrow.>');
  t.is(stored.length, s1.acknowledged);
  t.true(stored.length > 0);
  // Ids keep the line's place in the output: the gaps are the drops.
  t.true(stored.every((m) => m.data === expected[Number(m.msgId.split(':')[2]) - 1]));

  // The broker away: the sink knows it and drops without waiting.
  const sink = await natsSink({ servers: server.url, sensorName: 'down', whenBlocked: 'drop' });
  const lost = once(sink, 'disconnect');
  await server.kill('SIGKILL');
  await lost;
  t.false(sink.connected);
  const s2 = await open({ file }).pipeTo(sink);
  t.like(s2, { messages: expected.length, acknowledged: 0, droppedDisconnected: expected.length, dropped: expected.length, pending: 0 });
});

const live = why || whyNoLiveCapture();
const liveTest = live ? test.skip : test.serial;
liveTest(`the CLI capturing live never waits for a broker that went away: the exit summary counts the events dropped by the NATS sink${live ? ` (skipped: ${live})` : ''}`, async (t) => {
  const env = await vethWithServer(t);
  const server = await startNatsServer(t);
  const child = spawn(process.execPath, [cliPath, '-i', env.iface, '-C', '--output', server.url, '--sensor-name', 'live'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => child.exitCode === null && child.kill('SIGKILL'));
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = once(child, 'close');
  await until(() => stderr.includes('listening on'), 30_000, 'the capture to start');

  await server.kill('SIGKILL');
  await until(() => stderr.includes('lost the connection to NATS'), 30_000, 'the sensor to notice the broker is gone');
  for (let i = 0; i < 3; i++) await (await talk(env, `while the broker is away ${i}`)).end();

  child.kill('SIGINT');
  const [code] = await exited;
  t.is(code, 0, stderr);
  const last = stderr.trim().split('\n').at(-1);
  const m = /^(\d+) events? dropped by the NATS sink \((\d+) broker away\)$/.exec(last);
  t.truthy(m, stderr);
  // At least new_connection, connection_established, connection_finished
  // and connection_state_remove for each of the three conversations.
  t.true(Number(m[1]) >= 12, last);
  t.is(m[1], m[2]);
  t.regex(stderr, /0 events dropped by queue/);
});
