// Option validation: TypeError for a wrong type or an unknown key,
// RangeError for a value out of range, thrown by open() before native code
// sees anything; and the options that are valid are taken.
import test from 'ava';
import { TcpFlow } from './helpers/pcap.mjs';
import { attemptTrace } from './helpers/traces.mjs';
import { collect, named, scratch, tcpsensor } from './helpers/run.mjs';

const { open, TUNABLES, EVENT_NAMES } = tcpsensor;

const file = new TcpFlow({ t0: 10 }).handshake().close().write(scratch('options.pcap'));
const missing = scratch('missing.pcap');

// [title, source, options, error class, message pattern]
const invalid = [
  ['an unknown option', { file }, { tcpAtemptDelay: 5 }, TypeError, /tcpAtemptDelay/],
  ['an unknown source field', { file, flter: 'tcp' }, {}, TypeError, /flter/],
  ['a source that is not an object', 'trace.pcap', {}, TypeError],
  ['options that are not an object', { file }, 5, TypeError],
  ['both file and interface', { file, interface: 'lo' }, {}, TypeError],
  ['neither file nor interface', { filter: 'tcp' }, {}, TypeError],
  ['a file name that is not a string', { file: 42 }, {}, TypeError, /file/],
  ['an empty file name', { file: '' }, {}, RangeError, /file/],
  ['a filter that is not a string', { file, filter: 80 }, {}, TypeError, /filter/],
  ['a live-only field with a file', { file, snaplen: 1500 }, {}, TypeError, /snaplen/],
  ['an interval given as a string', { file }, { tcpAttemptDelay: '5' }, TypeError, /tcpAttemptDelay/],
  ['a negative interval', { file }, { tcpAttemptDelay: -1 }, RangeError, /tcpAttemptDelay/],
  ['a non-integer count', { file }, { tcpStormThresh: 1.5 }, RangeError, /tcpStormThresh/],
  ['a boolean given as a string', { file }, { ignoreChecksums: 'yes' }, TypeError, /ignoreChecksums/],
  ['a port list that is not an array', { file }, { contentDeliveryPortsOrig: 80 }, TypeError, /contentDeliveryPortsOrig/],
  ['a port above 65535', { file }, { contentDeliveryPortsOrig: [80, 65536] }, RangeError, /contentDeliveryPortsOrig/],
  ['a negative port', { file }, { likelyServerPorts: [-1] }, RangeError, /likelyServerPorts/],
  ['batchEvents 0', { file }, { batchEvents: 0 }, RangeError, /batchEvents/],
  ['batchEvents above 2^20', { file }, { batchEvents: 2 ** 20 + 1 }, RangeError, /batchEvents/],
  ['batchBytes below 4096', { file }, { batchBytes: 100 }, RangeError, /batchBytes/],
  ['highWaterMark 0', { file }, { highWaterMark: 0 }, RangeError, /highWaterMark/],
  ['a fractional highWaterMark', { file }, { highWaterMark: 1.5 }, RangeError, /highWaterMark/],
  ['highWaterMark as a string', { file }, { highWaterMark: '4' }, TypeError, /highWaterMark/],
  ['events that are neither a list nor "all"', { file }, { events: 'everything' }, TypeError, /events/],
  ['an event list holding a number', { file }, { events: [1] }, TypeError, /events/],
  // The right type (a string) with a value outside the set of names.
  ['an unknown event name', { file }, { events: ['new_connection', 'connection_exploded'] }, RangeError, /connection_exploded/],
  ['a signal that is not an AbortSignal', { file }, { signal: { aborted: false } }, TypeError, /signal/],
  ['a live snaplen below 64', { interface: 'lo', snaplen: 10 }, {}, RangeError, /snaplen/],
  ['a live bufferSize below 64 KiB', { interface: 'lo', bufferSize: 1024 }, {}, RangeError, /bufferSize/],
  ['a promiscuous flag given as a number', { interface: 'lo', promiscuous: 1 }, {}, TypeError, /promiscuous/],
  ['portInactivityTimeouts with a negative timeout', { file }, { portInactivityTimeouts: { 22: -5 } }, RangeError, /portInactivityTimeouts/],
];

for (const [title, source, options, type, message] of invalid) {
  test(`${type.name} for ${title}`, (t) => {
    const err = t.throws(() => open(source, options));
    // Exactly the class asked for: a RangeError must not pass as a TypeError.
    t.is(err.constructor, type, `${err.constructor.name}: ${err.message}`);
    if (message) t.regex(err.message, message);
  });
}

test('options are checked before the source is opened', (t) => {
  // A missing file would be ERR_PCAP_OPEN; the bad option must win.
  t.throws(() => open({ file: missing }, { batchEvents: 0 }), { instanceOf: RangeError });
  t.throws(() => open({ file: missing }, { nonsense: true }), { instanceOf: TypeError });
});

test('every tunable in TUNABLES is accepted with a value of its kind', async (t) => {
  const sample = { interval: 30, count: 10, bool: true, ports: [80, 443] };
  const options = Object.fromEntries(TUNABLES.map((u) => [u.option, sample[u.kind]]));
  t.is(Object.keys(options).length, TUNABLES.length);
  const events = await collect(file, options);
  t.true(events.length > 0);
});

test('the boundaries of the ranges are accepted', async (t) => {
  for (const options of [{ batchEvents: 1 }, { batchEvents: 2 ** 20 }, { batchBytes: 4096 }, { highWaterMark: 1 }, { highWaterMark: 1024 }, { tcpAttemptDelay: 0 }, { contentDeliveryPortsOrig: [0, 65535] }]) {
    const events = await collect(file, options);
    t.is(named(events, 'connection_state_remove').length, 1, JSON.stringify(options));
  }
});

test('an explicit event list yields exactly the events named', async (t) => {
  const events = await collect(file, { events: ['connection_established', 'connection_state_remove'] });
  t.deepEqual(events.map((e) => e.event), ['connection_established', 'connection_state_remove']);
  t.deepEqual(await collect(file, { events: [] }), []);
});

test('every event name of EVENT_NAMES is accepted in a list', async (t) => {
  const events = await collect(file, { events: [...EVENT_NAMES] });
  t.true(events.length > 0);
});

test('tunables reach the engine: tcpAttemptDelay moves connection_attempt', async (t) => {
  const path = attemptTrace().write(scratch('attempt.pcap'));
  const attempt = async (options) => named(await collect(path, { ...options, events: ['connection_attempt'] }), 'connection_attempt');
  // Zeek's default tcp_attempt_delay is 5 s: the SYN at 100 is reported at
  // the first packet after 105.
  t.deepEqual((await attempt({})).map((e) => [e.ts, e.id.orig_h]), [[105.25, '10.5.0.1']]);
  t.deepEqual((await attempt({ tcpAttemptDelay: 1 })).map((e) => e.ts), [101.25]);
  t.deepEqual((await attempt({ tcpAttemptDelay: 3 })).map((e) => e.ts), [103.25]);
});
