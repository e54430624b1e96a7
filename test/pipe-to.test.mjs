// sensor.pipeTo(sink): the stream as TextBatches, handed to any TextSink.
// A sink in memory stands in for the real ones (test/nats.test.mjs).
import test from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import { runCli, scratch, tcpsensor } from './helpers/run.mjs';
import { manyConnections } from './helpers/traces.mjs';

const { open } = tcpsensor;

// Keeps every line with its name; `delay` makes each write wait.
function memorySink({ delay = 0, failOn } = {}) {
  const sink = {
    lines: [],
    names: [],
    contexts: [],
    ended: false,
    aborted: undefined,
    start: (c) => sink.contexts.push(c),
    write(batch) {
      let start = 0;
      batch.ends.forEach((end, i) => {
        const line = batch.text.subarray(start, end).toString();
        if (!line.endsWith('\n')) throw new Error('a line without its newline');
        sink.lines.push(line.slice(0, -1));
        sink.names.push(batch.names[i]);
        start = end;
      });
      if (start !== batch.text.length) throw new Error('text past the last line');
      if (failOn !== undefined && sink.lines.length >= failOn) return Promise.reject(new Error('sink failed'));
      if (delay) return new Promise((resolve) => setTimeout(resolve, delay));
    },
    async end() {
      sink.ended = true;
      return { lines: sink.lines.length };
    },
    abort: (reason) => (sink.aborted = reason),
  };
  return sink;
}

const file = manyConnections({ connections: 300 }).writer.write(scratch('pipe-to.pcap'));

async function cliLines(args) {
  const r = await runCli(args);
  if (r.code !== 0) throw new Error(r.stderr);
  return r.stdout.split('\n').filter(Boolean);
}

test('the lines a sink gets are the CLI\'s NDJSON, stats records included where they fall, each named by its event', async (t) => {
  const expected = await cliLines(['-r', file, '--events', 'all', '--contents', 'all', '--stats-interval', '0.01']);
  const sink = memorySink();
  const result = await open({ file }, { events: 'all', contentDeliverAllOrig: true, contentDeliverAllResp: true, statsInterval: 0.01 }).pipeTo(sink);
  t.deepEqual(result, { lines: expected.length });
  t.deepEqual(sink.lines, expected);
  t.deepEqual(sink.names, expected.map((l) => JSON.parse(l).event));
  t.true(sink.names.includes('stats'));
  t.deepEqual(sink.contexts, [{ live: false }]);
  t.true(sink.ended);
});

test('with several workers the lines are the same (in the merge\'s order): which worker raised an event stays out of the text', async (t) => {
  const expected = await cliLines(['-r', file]);
  const sink = memorySink();
  await open({ file }, { workers: 2 }).pipeTo(sink);
  t.deepEqual([...sink.lines].sort(), [...expected].sort());
  t.false(sink.lines.some((l) => 'worker' in JSON.parse(l)));
});

test("format 'conn': conn.log rows, named 'conn', as --format conn writes them, through a slow sink", async (t) => {
  const expected = await cliLines(['-r', file, '--format', 'conn']);
  const sink = memorySink({ delay: 2 });
  await open({ file }, { events: ['connection_state_remove', 'content_gap'], batchEvents: 64 }).pipeTo(sink, { format: 'conn' });
  t.deepEqual(sink.lines, expected);
  t.true(sink.names.every((n) => n === 'conn'));
});

test('a sink that fails: pipeTo rejects with its error, aborts it and closes the capture', async (t) => {
  const sink = memorySink({ failOn: 1 });
  const sensor = open({ file }, { batchEvents: 16 });
  await t.throwsAsync(sensor.pipeTo(sink), { message: 'sink failed' });
  t.is(sink.aborted?.message, 'sink failed');
  t.false(sink.ended);
  t.true(sensor.closed);
});

test('a capture that fails (a truncated file): the sink still gets and ends with every line before the cut, then pipeTo rejects', async (t) => {
  const whole = readFileSync(file);
  const cut = scratch('pipe-to-cut.pcap');
  writeFileSync(cut, whole.subarray(0, whole.length - 10));
  const sink = memorySink();
  const err = await t.throwsAsync(open({ file: cut }).pipeTo(sink));
  t.is(err.code, 'ERR_PCAP_TRUNCATED');
  t.true(sink.ended);
  const expected = [];
  try {
    for await (const ev of open({ file: cut })) expected.push(ev.event);
  } catch {}
  t.deepEqual(sink.names, expected);
});
