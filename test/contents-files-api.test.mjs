// setContentsFile / getContentsFile: Zeek's set_contents_file for an
// active connection, from the point the capture thread takes the request
// up; argument checks; what happens for connections that are not active.
import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { PcapWriter, TcpFlow } from './helpers/pcap.mjs';
import { manyConnections } from './helpers/traces.mjs';
import { drain, scratch, tcpsensor } from './helpers/run.mjs';

const { open } = tcpsensor;

const REQUEST = 'GET /watched HTTP/1.1\r\nHost: example\r\n\r\n';
const REPLY = 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello';

// The watched connection's handshake comes first, its data only after
// 1,000 other connections: with one small batch queued, the capture thread
// cannot be that far ahead when the consumer sees the connection begin.
function watchedTrace() {
  const w = new PcapWriter();
  const watched = new TcpFlow({ writer: w, client: '10.10.0.1:50000', server: '10.10.0.2:80', t0: 1, step: 0.001 });
  watched.handshake();
  manyConnections({ connections: 1000, t0: 2, writer: w });
  watched.data('c', REQUEST, { at: 10 });
  watched.data('s', REPLY, { at: 10.1 });
  watched.fin('c', { at: 10.2 });
  watched.fin('s', { at: 10.3 });
  watched.ack('c', { at: 10.4 });
  return w.write(scratch(`watched-${Math.random().toString(36).slice(2)}.pcap`));
}
const tight = { batchEvents: 16, highWaterMark: 1 };
const isWatched = (e) => e.event === 'new_connection' && e.id.orig_p === 50000;

test('contents files get the stream from the request on, per direction', async (t) => {
  const sensor = open({ file: watchedTrace() }, tight);
  const origPath = scratch('watched.orig');
  const respPath = scratch('watched.resp');
  let answers;
  for await (const ev of sensor) {
    if (!isWatched(ev)) continue;
    answers = [
      await sensor.setContentsFile(ev.uid, 'orig', origPath),
      await sensor.setContentsFile(ev.uid, 'resp', respPath),
      await sensor.getContentsFile(ev.uid, 'orig'),
      await sensor.getContentsFile(ev.uid, 'resp'),
    ];
  }
  t.deepEqual(answers, [true, true, origPath, respPath]);
  t.is(readFileSync(origPath, 'latin1'), REQUEST);
  t.is(readFileSync(respPath, 'latin1'), REPLY);
});

test("'none' stops a contents file", async (t) => {
  const sensor = open({ file: watchedTrace() }, tight);
  const path = scratch('stopped.orig');
  let after;
  for await (const ev of sensor) {
    if (!isWatched(ev)) continue;
    t.true(await sensor.setContentsFile(ev.uid, 'orig', path));
    t.true(await sensor.setContentsFile(ev.uid, 'none', ''));
    after = await sensor.getContentsFile(ev.uid, 'orig');
  }
  t.is(after, null);
  // Nothing of the request reached the file (if it was made at all).
  t.is(existsSync(path) ? readFileSync(path, 'latin1') : '', '');
});

test('arguments are checked', async (t) => {
  const sensor = open({ file: watchedTrace() }, tight);
  t.teardown(() => sensor.close());
  await t.throwsAsync(() => sensor.setContentsFile('C1', 'sideways', scratch('x')), { instanceOf: RangeError });
  await t.throwsAsync(() => sensor.setContentsFile('C1', 'orig', ''), { instanceOf: TypeError });
  await t.throwsAsync(() => sensor.setContentsFile(42, 'orig', scratch('x')), { instanceOf: TypeError });
  await t.throwsAsync(() => sensor.getContentsFile('C1', 'up'), { instanceOf: RangeError });
});

test('a string that is not a uid: false, and null', async (t) => {
  const sensor = open({ file: watchedTrace() }, tight);
  t.teardown(() => sensor.close());
  const it = sensor[Symbol.asyncIterator]();
  await it.next();
  t.false(await sensor.setContentsFile('not a uid', 'orig', scratch('x')));
  t.is(await sensor.getContentsFile('not a uid', 'orig'), null);
});

// "Resolves false if no such connection is active": the engine instead
// reports "no active connection with that uid" as a failure, and the addon
// rejects with ERR_CONTENTS_FILE (native/core/tcp_reassembly.cc). Native
// bug, reported.
test('a well-formed uid of no active connection: false', async (t) => {
  const sensor = open({ file: watchedTrace() }, tight);
  t.teardown(() => sensor.close());
  const it = sensor[Symbol.asyncIterator]();
  await it.next();
  t.false(await sensor.setContentsFile('C12345', 'orig', scratch('never.orig')));
});

test('after the sensor is closed: false, and null', async (t) => {
  const sensor = open({ file: watchedTrace() }, tight);
  const { events } = await drain(sensor);
  const { uid } = events.find(isWatched);
  t.true(sensor.closed);
  t.false(await sensor.setContentsFile(uid, 'orig', scratch('late.orig')));
  t.is(await sensor.getContentsFile(uid, 'orig'), null);
});
