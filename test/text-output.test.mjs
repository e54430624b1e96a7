// Text output: the NDJSON lines and conn.log rows the addon renders in C++
// (output: 'ndjson' | 'conn', sensor.textBatches()) are byte for byte what
// JavaScript makes of the event objects (renderEvents: JSON.stringify, and
// ConnLog for rows), on crafted traces, on crafted batches with values no
// trace produces, and on every run of the conformance corpus; the field
// table the renderer is written from matches the objects lib/batch.ts
// builds, key by key and in order.
import test from 'ava';
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { BatchBuilder, args } from './helpers/batch.mjs';
import { whyNoLiveCapture, talk, vethWithServer } from './helpers/netns.mjs';
import { PcapWriter, TcpFlow, tcpOptions } from './helpers/pcap.mjs';
import { manyConnections } from './helpers/traces.mjs';
import { root, scratch, tcpsensor } from './helpers/run.mjs';

const require = createRequire(import.meta.url);
const { binding } = require(join(root, 'dist', 'native.js'));
const { BatchReader, IdentityCaches } = require(join(root, 'dist', 'batch.js'));
const { textBatchOf, TEXT_BATCH_VERSION } = require(join(root, 'dist', 'text.js'));
const { parseCommandLine } = require(join(root, 'dist', 'cli-args.js'));
const { open, renderEvents, ConnLog, CONN_LOG_EVENTS, EVENT_KINDS, EVENT_NAMES, TcpsensorError } = tcpsensor;

// ---------------------------------------------------------------------------
// Helpers

// Batches of one stream as one text: lines, their ends and names.
function joined(batches) {
  const texts = [];
  const ends = [];
  const names = [];
  let base = 0;
  for (const b of batches) {
    texts.push(Buffer.from(b.text));
    for (const e of b.ends) ends.push(base + e);
    names.push(...b.names);
    base += b.text.length;
  }
  return { text: Buffer.concat(texts), ends, names };
}

// The two renderings are the same bytes, cut into the same lines with the
// same names; on a difference, the first line that differs.
function same(t, native, js, what) {
  if (!native.text.equals(js.text)) {
    const a = native.text.toString().split('\n');
    const b = js.text.toString().split('\n');
    const i = a.findIndex((line, k) => line !== b[k]);
    t.fail(`${what}: line ${i} differs\n  C++: ${a[i]}\n  JS:  ${b[i]}`);
    return false;
  }
  t.deepEqual(native.ends, js.ends, what);
  t.deepEqual(native.names, js.names, what);
  // Every end is just past a '\n', and every '\n' ends a line.
  let newlines = 0;
  for (const byte of native.text) if (byte === 0x0a) newlines++;
  t.is(newlines, native.ends.length, what);
  t.true(native.ends.every((e) => native.text[e - 1] === 0x0a), what);
  return true;
}

// A source read both ways: rendered by the addon, and as objects rendered
// by renderEvents (one ConnLog for the stream).
async function bothWays(source, options, format) {
  // Checksum warnings are the same either way; they are not what is tested.
  const quiet = (sensor) => sensor.on('warning', () => {});
  const native = [];
  for await (const b of quiet(open(source, { ...options, output: format })).textBatches()) native.push(b);
  const objectOptions = format === 'conn' && options.events === undefined ? { ...options, events: [...CONN_LOG_EVENTS] } : options;
  const js = [];
  const connLog = new ConnLog();
  let events = 0;
  for await (const batch of quiet(open(source, objectOptions)).batches()) {
    events += batch.length;
    js.push(renderEvents(batch, format, connLog));
  }
  return { native: joined(native), js: joined(js), events };
}

// Event batches rendered both ways: by the addon's renderer and by
// renderEvents over BatchReader's objects, each with its stream's state.
function renderBoth(buffers, format) {
  const renderer = new (binding().TextRenderer)(format);
  const caches = new IdentityCaches();
  const connLog = new ConnLog();
  const events = [];
  const native = [];
  const js = [];
  for (const buffer of buffers) {
    native.push(textBatchOf(renderer.render(buffer)));
    const batch = new BatchReader(buffer, caches).rest();
    events.push(...batch);
    js.push(renderEvents(batch, format, connLog));
  }
  return { native: joined(native), js: joined(js), events };
}

// A small deterministic generator (xorshift32), so failures reproduce.
function rng(seed) {
  let x = seed >>> 0 || 1;
  const next = () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
  const int = (n) => next() % n;
  return {
    int,
    pick: (list) => list[int(list.length)],
    bool: () => (next() & 1) === 1,
    bytes: (n) => Buffer.from(Array.from({ length: n }, () => int(256))),
    u64: () => (BigInt(next()) << 32n) | BigInt(next()),
    f64: () => {
      const b = Buffer.alloc(8);
      b.writeUInt32LE(next(), 0);
      b.writeUInt32LE(next(), 4);
      return b.readDoubleLE(0);
    },
  };
}

// ---------------------------------------------------------------------------
// Values no trace produces

// Addresses in every form inet_ntop writes, and IPv4.
const ADDRESSES = [
  '10.0.0.1', '255.255.255.255', '0.0.0.0',
  '::', '::1', '2001:db8::1', 'fe80::', '1:2:3:4:5:6:7:8', '1:0:2:3:4:5:6:7', '1:0:0:2:0:0:3:4', '1:0:0:0:2:0:0:3',
  '0:0:0:0:0:0:102:304' /* ::1.2.3.4 */, '0:0:0:0:0:0:0:1234', '0:0:0:0:1:ffff:102:304', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
  '0:0:0:0:0:ffff:0:0', '1::', '0:1:0:0:0:0:0:0', '2001:db8:0:1:1:1:1:1',
];

const DOUBLES = [
  0, -0, 1, -1.5, 0.1, 1e21, 1e-7, 1e-6, 9.5367431640625e-7, 5e-324, 1.7976931348623157e308, NaN, Infinity, -Infinity,
  2 ** 53, 2 ** 53 + 2, 123456789012345680000, 1700000000.123456, 4294967295.999999, -1e-300,
];

const COUNTERS = [0n, 1n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 64n - 1n, 1234567890123456789n];

const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

const HISTORIES = ['', 'S', 'ShADadFf', '^SR', 'SaR', 'S\nR', 'SR\n', 'SRr\r', 'SAR', '^hSR', 'SrR', ALL_BYTES.toString('latin1'), 'x'.repeat(300)];

// One event of every kind, with extreme arguments, over connections of
// every address form and history; then every state pair (conn_state),
// gaps that add up across batches, and moved snapshots.
function craftedBatches() {
  const r = rng(7);
  const batches = [];
  let b = new BatchBuilder();
  const conns = ADDRESSES.map((a, i) => ({
    uid: i === 0 ? 0n : i === 1 ? 2n ** 64n - 1n : r.u64(),
    orig_h: a,
    orig_p: [0, 65535, 80][i % 3],
    resp_h: ADDRESSES[(i * 7 + 3) % ADDRESSES.length],
    resp_p: i,
    orientation: i % 2,
    slot: i,
  }));
  const snap = (c, i) =>
    b.snapshot(b.descriptor(c), {
      history: HISTORIES[i % HISTORIES.length],
      orig: { state: i % 7, size: COUNTERS[i % COUNTERS.length], num_pkts: COUNTERS[(i + 1) % COUNTERS.length], num_bytes_ip: COUNTERS[(i + 2) % COUNTERS.length] },
      resp: { state: (i * 3) % 7, size: COUNTERS[(i + 3) % COUNTERS.length], num_pkts: 7n, num_bytes_ip: COUNTERS[(i + 4) % COUNTERS.length] },
      start_time: DOUBLES[i % DOUBLES.length],
      duration: DOUBLES[(i + 5) % DOUBLES.length],
    });
  const id = (name) => EVENT_KINDS[name].id;
  conns.forEach((c, i) => {
    const s = snap(c, i);
    const ts = DOUBLES[(i + 2) % DOUBLES.length];
    for (const name of EVENT_NAMES) {
      switch (EVENT_KINDS[name].shape) {
        case 0: b.event(id(name), s, ts); break;
        case 1: b.event(id(name), s, ts, args.isOrig(i % 2 === 0)); break;
        case 2:
          b.event(id(name), s, ts, args.synPacket({ is_orig: true, DF: i % 2 === 1, ttl: 255, SACK_OK: true, size: 4294967295, win_size: 65535, win_scale: -1, MSS: 1460 }));
          b.event(id(name), s, ts, args.synPacket({ is_orig: false, DF: true, ttl: 0, SACK_OK: false, size: 0, win_size: 0, win_scale: -32768, MSS: 0, TSval: 4294967295, TSecr: 0 }));
          break;
        case 3: b.event(id(name), s, ts, args.writeFailure(i % 2 === 0, ALL_BYTES.subarray(i * 13, i * 13 + 40))); break;
        case 4: b.event(id(name), s, ts, args.contents(true, COUNTERS[i % COUNTERS.length], r.bytes(i))); break;
        case 5: b.event(id(name), s, ts, args.threshold(false, 4294967295 - i)); break;
        case 6: b.event(id(name), s, ts, args.option(true, i, 255 - i)); break;
        case 7:
          b.event(id(name), s, ts, args.options(i % 2 === 0, [
            { kind: 0, length: 1, shape: 0 },
            { kind: 2, length: 4, shape: 2, data: Buffer.from([0xff, 0xfe]) },
            { kind: 3, length: 3, shape: 2, data: Buffer.from([14]) },
            { kind: 5, length: 2 + 8 * ((i % 4) + 1), shape: 2, data: r.bytes(8 * ((i % 4) + 1)) },
            { kind: 8, length: 10, shape: 2, data: Buffer.from([255, 255, 255, 255, 0, 0, 0, 1]) },
            { kind: 27, length: 8, shape: 2, data: Buffer.from([9, 200, 0xde, 0xad, 0xbe, 0xef]) },
            { kind: 28, length: 4, shape: 0 },
            { kind: 4, length: 2, shape: 2 }, // decoded, but a kind without fields
            { kind: 253, length: 2 + i, shape: 1, data: r.bytes(i) },
            { kind: 99, length: 2, shape: 1 },
          ]));
          b.event(id(name), s, ts, args.options(true, []));
          break;
        case 8: b.event(id(name), s, ts, args.packet(i % 2 === 0, i * 7, COUNTERS[i % COUNTERS.length], COUNTERS[(i + 5) % COUNTERS.length], 4294967295, r.bytes(i % 5))); break;
        case 9: b.event(id(name), s, ts, args.rexmit(true, COUNTERS[(i + 1) % COUNTERS.length], 1, 4294967295, 0)); break;
        case 10:
          b.event(id(name), s, ts, args.weird(ALL_BYTES.subarray(0, 128)));
          b.event(id(name), s, ts, args.weird(ALL_BYTES.subarray(128)));
          b.event(id(name), s, ts, args.weird(''));
          break;
        case 11: b.event(id(name), s, ts, args.gap(false, COUNTERS[i % COUNTERS.length], COUNTERS[(i + 2) % COUNTERS.length])); break;
        case 12: b.event(id(name), s, ts, args.inconsistency(0x3f, r.bytes(i % 4), r.bytes(i % 4))); break;
        default: throw new Error(`shape of ${name}`);
      }
    }
  });
  batches.push(b.finish());

  // Every pair of endpoint states, with sizes zero and not, and the
  // histories lib/conn-log.ts's RSTOS0 test looks at; gaps in one batch,
  // the rows in the next.
  b = new BatchBuilder();
  const later = [];
  let n = 0;
  for (let os = 0; os < 7; os++) {
    for (let rs = 0; rs < 7; rs++) {
      for (const history of HISTORIES) {
        const c = { uid: BigInt(++n), orig_h: '10.1.0.1', orig_p: n & 0xffff, resp_h: '10.1.0.2', resp_p: 80, slot: n };
        const sized = n % 3 === 0 ? 0n : BigInt(n);
        const state = { history, orig: { state: os, size: sized }, resp: { state: rs, size: n % 2 ? 0n : 5n }, start_time: n, duration: n % 4 ? n / 3 : 0 };
        if (n % 5 === 0) {
          const s = b.snapshot(b.descriptor(c), state);
          b.event(id('content_gap'), s, n, args.gap(true, 0n, COUNTERS[n % COUNTERS.length]));
          b.event(id('content_gap'), s, n, args.gap(false, 0n, BigInt(n)));
        }
        later.push([c, state]);
      }
    }
  }
  b.event(id('connection_state_remove'), b.snapshot(b.descriptor(later[0][0]), later[0][1]), 1);
  batches.push(b.finish());
  b = new BatchBuilder();
  for (const [c, state] of later) b.event(id('connection_state_remove'), b.snapshot(b.descriptor(c), state), c.orig_p);
  // A snapshot that moved (its history outgrew it): events naming the old
  // place see the new one.
  const c = { uid: 99999n, orig_h: '::1', orig_p: 1, resp_h: '::2', resp_p: 2, slot: 3 };
  const d = b.descriptor(c);
  const old = b.snapshot(d, { history: 'S' });
  b.event(id('new_connection'), old, 5);
  const moved = b.snapshot(d, { history: 'ShADadFfRrTtWwGgIiQq^' });
  b.move(old, moved);
  b.event(id('connection_state_remove'), moved, 6);
  batches.push(b.finish());
  return batches;
}

// Random events of every shape: the same stream rendered both ways.
function randomBatches(seed, count) {
  const r = rng(seed);
  const batches = [];
  const kinds = EVENT_NAMES.map((name) => EVENT_KINDS[name]);
  for (let k = 0; k < count; k++) {
    // Engines of a sharded capture have pool slots (and identities) of their own.
    const b = new BatchBuilder({ worker: r.int(3) });
    const snapshots = [];
    for (let i = 0; i < 8; i++) {
      const c = { uid: r.u64(), orig_h: r.pick(ADDRESSES), orig_p: r.int(65536), resp_h: r.pick(ADDRESSES), resp_p: r.int(65536), orientation: r.int(2), slot: r.int(70000) };
      snapshots.push(b.snapshot(b.descriptor(c), {
        history: r.bool() ? r.pick(HISTORIES) : r.bytes(r.int(12)),
        orig: { state: r.int(7), size: r.u64() >> BigInt(r.int(64)), num_pkts: BigInt(r.int(1000)), num_bytes_ip: r.u64() },
        resp: { state: r.int(7), size: BigInt(r.int(3)), num_pkts: r.u64() >> 20n, num_bytes_ip: BigInt(r.int(100000)) },
        start_time: r.bool() ? r.f64() : r.int(2 ** 31) + r.int(1e6) / 1e6,
        duration: r.bool() ? r.f64() : r.int(1e6) / 1e6,
      }));
    }
    for (let i = 0; i < 200; i++) {
      const kind = r.pick(kinds);
      const s = r.pick(snapshots);
      const ts = r.bool() ? r.f64() : 1e9 + r.int(1e9) / 1e6;
      const a = [
        () => Buffer.alloc(0),
        () => args.isOrig(r.bool()),
        () => args.synPacket({ is_orig: r.bool(), DF: r.bool(), ttl: r.int(256), SACK_OK: r.bool(), size: r.int(2 ** 32), win_size: r.int(65536), win_scale: r.int(65536) - 32768, MSS: r.int(65536), ...(r.bool() ? { TSval: r.int(2 ** 32), TSecr: r.int(2 ** 32) } : {}) }),
        () => args.writeFailure(r.bool(), r.bytes(r.int(50))),
        () => args.contents(r.bool(), r.u64(), r.bytes(r.int(70))),
        () => args.threshold(r.bool(), r.int(2 ** 32)),
        () => args.option(r.bool(), r.int(256), r.int(256)),
        () => args.options(r.bool(), Array.from({ length: r.int(6) }, () => {
          const shape = r.int(3);
          const kind = shape === 2 ? r.pick([2, 3, 5, 8, 27, 4, 34]) : r.int(256);
          const size = { 2: 2, 3: 1, 5: 8 * (1 + r.int(4)), 8: 8, 27: 6 }[kind] ?? (shape === 1 ? r.int(40) : 0);
          return { kind, length: r.int(256), shape, data: r.bytes(shape === 0 ? 0 : size) };
        })),
        () => args.packet(r.bool(), r.int(256), r.u64(), r.u64(), r.int(2 ** 32), r.bytes(r.int(30))),
        () => args.rexmit(r.bool(), r.u64(), r.int(2 ** 32), r.int(2 ** 32), r.int(2 ** 32)),
        () => args.weird(r.bytes(r.int(40))),
        () => args.gap(r.bool(), r.u64(), r.bool() ? BigInt(r.int(1e6)) : r.u64()),
        () => {
          const len = r.int(20);
          return args.inconsistency(r.int(256), r.bytes(len), r.bytes(len));
        },
      ][kind.shape]();
      b.event(kind.id, s, ts, a);
    }
    batches.push(b.finish());
  }
  return batches;
}

// ---------------------------------------------------------------------------
// Crafted traces

// IPv4 and IPv6 conversations that raise every event the engine can be
// made to raise from a trace: options of every kind, data, an inconsistent
// retransmission, a hole, weirds, resets, a flip, reuse; timestamps whose
// differences print in exponent form.
function variedTrace() {
  const w = new PcapWriter();
  const conversations = [
    ['10.6.0.1:40000', '10.6.0.2:80', 10],
    ['[2001:db8::1]:40001', '[2001:db8::2]:443', 11],
    ['[::1]:40002', '[fe80::]:80', 12],
    ['[1:0:0:2:0:0:3:4]:40003', '[0:0:0:0:0:0:102:304]:80', 13],
    ['[1:2:3:4:5:6:7:8]:40004', '[1:0:2:3:4:5:6:7]:22', 14],
    ['10.6.0.3:40005', '10.6.0.4:80', 4294967290.999998],
  ];
  for (const [client, server, t0] of conversations) {
    const f = new TcpFlow({ writer: w, client, server, t0, step: t0 > 1e9 ? 0.000001 : 0.1 });
    f.syn({ options: tcpOptions([{ mss: 1460 }, { sackOk: true }, { wscale: 7 }, { ts: [4294967295, 0] }, { nop: true }, { raw: [27, 8, 9, 200, 0xde, 0xad, 0xbe, 0xef] }]) });
    f.synAck({ options: tcpOptions([{ mss: 1400 }, { raw: [253, 4, 0xca, 0xfe] }, { raw: [2, 3, 5] }, { sack: [[1, 2], [3, 4]] }]) });
    f.ack('c');
    const seq = f.c.seq;
    f.data('c', 'aaaa');
    f.packet('c', { flags: 'PA', seq, payload: Buffer.from('bbbb') }); // same place, other bytes
    f.c.seq += 4; // four bytes never sent
    f.data('c', Buffer.from([0, 1, 2, 0x80, 0xff, 0x22, 0x5c, 10]));
    f.ack('s');
    f.data('s', Buffer.alloc(3000, 0x41));
    f.packet('s', { flags: 'A', seq: f.s.seq - 1000, payload: Buffer.alloc(1000, 0x41) }); // retransmission
    f.close();
  }
  // A reset, a flipped connection (SYN-ACK first), and a reused tuple.
  const r = new TcpFlow({ writer: w, client: '10.7.0.1:1000', server: '10.7.0.2:80', t0: 20 });
  r.syn();
  r.rst('s', { flags: 'RA' });
  const flip = new TcpFlow({ writer: w, client: '10.7.0.3:1000', server: '10.7.0.4:80', t0: 21 });
  flip.synAck();
  flip.ack('c');
  for (let i = 0; i < 2; i++) {
    const again = new TcpFlow({ writer: w, client: '10.7.0.5:1000', server: '10.7.0.6:80', t0: 22 + i, isn: 1000 + 100000 * i });
    again.handshake();
    again.data('c', 'x');
    again.close();
  }
  // Ten of each anomaly (the tcp_multiple_* thresholds), on one connection each.
  const anomalies = [
    (f) => f.packet('c', { flags: 'PA', payload: Buffer.from('zz'), checksum: 0x1234 }), // C
    (f) => f.packet('c', { flags: 'PA', seq: f.c.seq - 3, payload: Buffer.from('abc') }), // T
    (f) => f.packet('s', { flags: 'A', window: 0 }), // W
  ];
  anomalies.forEach((bad, k) => {
    const f = new TcpFlow({ writer: w, client: `10.7.1.${k}:1000`, server: '10.7.2.1:80', t0: 30 + k });
    f.handshake();
    f.data('c', 'abc');
    for (let i = 0; i < 10; i++) bad(f);
    f.rst('c'); // connection_reset
  });
  const gaps = new TcpFlow({ writer: w, client: '10.7.1.9:1000', server: '10.7.2.1:80', t0: 40 });
  gaps.handshake();
  for (let i = 0; i < 10; i++) {
    gaps.packet('c', { flags: 'PA', seq: 1001 + 2 * i + 1, payload: Buffer.from('x') });
    gaps.packet('s', { flags: 'A', ack: 1001 + 2 * i + 2 });
  }
  // Midstream (partial_connection), a partial close, a half-finished
  // connection, an attempt and one left open (connection_pending); then a
  // packet well later, so that the timers come due (connection_timeout).
  const closing = new TcpFlow({ writer: w, client: '10.7.3.1:1000', server: '10.7.3.2:80', t0: 50 });
  closing.data('c', 'abc');
  closing.fin('s');
  const mid = new TcpFlow({ writer: w, client: '10.7.3.7:1000', server: '10.7.3.2:80', t0: 50.5 });
  mid.data('c', 'abc');
  mid.data('s', 'def');
  const half = new TcpFlow({ writer: w, client: '10.7.3.3:1000', server: '10.7.3.2:80', t0: 51 });
  half.syn();
  half.packet('c', { flags: 'F', seq: half.c.seq });
  new TcpFlow({ writer: w, client: '10.7.3.4:1000', server: '10.7.3.2:80', t0: 52 }).syn();
  new TcpFlow({ writer: w, client: '10.7.3.5:1000', server: '10.7.3.2:80', t0: 53 }).handshake();
  new TcpFlow({ writer: w, client: '10.7.3.6:1000', server: '10.7.3.2:80', t0: 4294967294 }).handshake();
  // The writer keeps packets in the order added: sort by time.
  const order = [];
  for (let i = 0; i < w.records.length; i += 2) order.push([w.records[i].readUInt32LE(0) + w.records[i].readUInt32LE(4) / 1e6, w.records[i], w.records[i + 1]]);
  order.sort((x, y) => x[0] - y[0]);
  w.records = order.flatMap(([, h, frame]) => [h, frame]);
  return w.write(scratch('varied.pcap'));
}

const EVERYTHING = { events: [...EVENT_NAMES], contentDeliverAllOrig: true, contentDeliverAllResp: true };

// ---------------------------------------------------------------------------
// Tests

test('the field table: the addon exports it, and BatchReader builds exactly its keys, in its order', (t) => {
  const fields = binding().eventFields;
  const events = renderBoth([...craftedBatches(), ...randomBatches(1, 4)], 'ndjson').events;
  t.true(events.length > 1000);
  const decoded = new Map(fields.decodedOptions.map((d) => [d.kind, d.fields.map((f) => f.name)]));
  const seen = new Set();
  for (const ev of events) {
    const shape = EVENT_KINDS[ev.event].shape;
    t.deepEqual(Object.keys(ev), [...fields.event, ...fields.arguments[shape].map((f) => f.name)], ev.event);
    t.deepEqual(Object.keys(ev.id), fields.id);
    t.deepEqual(Object.keys(ev.conn), fields.conn);
    t.deepEqual(Object.keys(ev.conn.orig), fields.endpoint);
    t.deepEqual(Object.keys(ev.conn.resp), fields.endpoint);
    if (ev.pkt) {
      t.deepEqual(Object.keys(ev.pkt), fields.synPacket.filter((f) => !f.optional || f.name in ev.pkt).map((f) => f.name));
      for (const f of fields.synPacket) if (f.name in ev.pkt) seen.add(`pkt.${f.name}`);
    }
    for (const o of ev.options ?? []) {
      const rest = 'data' in o ? ['data'] : Object.keys(o).length > 2 ? decoded.get(o.kind) : [];
      t.deepEqual(Object.keys(o), [...fields.optionEntry.slice(0, 2), ...rest]);
      for (const k of Object.keys(o)) seen.add(`option.${k}`);
    }
  }
  // Nothing in the table that no object carries.
  for (const f of fields.synPacket) t.true(seen.has(`pkt.${f.name}`), f.name);
  for (const name of [...fields.optionEntry, ...[...decoded.values()].flat()]) t.true(seen.has(`option.${name}`), name);
  t.deepEqual(fields.arguments.length, Math.max(...EVENT_NAMES.map((n) => EVENT_KINDS[n].shape)) + 1);

  // conn.log rows: ConnLog's keys in the table's order, the optional
  // columns only when there.
  const rows = [];
  const log = new ConnLog();
  for (const ev of renderBoth(craftedBatches(), 'conn').events) {
    const row = log.add(ev);
    if (row) rows.push(row);
  }
  t.true(rows.length > 500);
  for (const row of rows) t.deepEqual(Object.keys(row), fields.connLog.filter((c) => !c.optional || c.name in row).map((c) => c.name));
  for (const c of fields.connLog.filter((x) => x.optional)) {
    t.true(rows.some((row) => c.name in row), c.name);
    t.true(rows.some((row) => !(c.name in row)), c.name);
  }
});

test('numbers: the renderer writes every double as JavaScript does', (t) => {
  const r = rng(3);
  const values = [...DOUBLES];
  for (let e = -330; e <= 310; e++) values.push(10 ** e, -(10 ** e), 1.5 * 10 ** e, 10 ** e * (1 + Number.EPSILON), 2 ** (e % 1075));
  for (let i = 0; i < 200_000; i++) values.push(r.f64());
  for (let i = 0; i < 50_000; i++) values.push(r.int(2 ** 32) * 2 ** 21 + r.int(2 ** 21), r.int(1e9) / 1e6 + 1e9, r.int(1e6) / 1e6, -r.int(1e6));
  // Whole microseconds (and tenths, hundredths...) at every magnitude up to
  // 2^53 microseconds, where the spacing of doubles passes a microsecond.
  for (let k = -20; k <= 34; k++) {
    for (let i = 0; i < 2000; i++) {
      const us = Math.round(2 ** k * 1e6) + r.int(2e6) - 1e6;
      values.push(us / 1e6, Math.round(us / 10 ** r.int(7)) / 10 ** (6 - r.int(7)), (us + 0.5) / 1e6);
    }
  }
  const native = binding().jsonNumbers(Float64Array.from(values)).split('\n');
  native.pop();
  t.is(native.length, values.length);
  const wrong = values.map((v, i) => [v, native[i], JSON.stringify(v)]).filter(([, a, b]) => a !== b);
  t.deepEqual(wrong.slice(0, 5), []);
});

test('crafted batches: every kind and shape, latin1 and control bytes, 64-bit counters, -0 and NaN render the same both ways', (t) => {
  const ndjson = renderBoth(craftedBatches(), 'ndjson');
  t.true(same(t, ndjson.native, ndjson.js, 'ndjson'));
  t.deepEqual(new Set(ndjson.native.names), new Set(EVENT_NAMES));
  const text = ndjson.native.text.toString();
  t.true(text.includes('\\u0000\\u0001'), 'control bytes escaped');
  t.true(text.includes('"ts":null'), 'NaN as null');
  t.true(text.includes('1e+21') && text.includes('5e-324') && text.includes('18446744073709552000'));
  t.true(text.includes('"orig_h":"::1.2.3.4"'));
  const conn = renderBoth(craftedBatches(), 'conn');
  t.true(same(t, conn.native, conn.js, 'conn'));
  const states = new Set(conn.native.text.toString().split('\n').filter(Boolean).map((l) => JSON.parse(l).conn_state));
  t.deepEqual([...states].sort(), ['OTH', 'REJ', 'RSTO', 'RSTOS0', 'RSTR', 'RSTRH', 'S0', 'S1', 'S2', 'S3', 'SF', 'SH', 'SHR']);
  t.true(conn.native.text.toString().includes('"missed_bytes":18446744073709552000'));
});

test('random batches: 40 batches of events of every shape render the same both ways', (t) => {
  const ndjson = renderBoth(randomBatches(11, 40), 'ndjson');
  t.is(ndjson.native.ends.length, 40 * 200);
  t.true(same(t, ndjson.native, ndjson.js, 'ndjson'));
  const conn = renderBoth(randomBatches(12, 40), 'conn');
  t.true(conn.native.ends.length > 100);
  t.true(same(t, conn.native, conn.js, 'conn'));
});

test('a batch that does not hold together is refused with ERR_BATCH_FORMAT, never read past', (t) => {
  const renderer = new (binding().TextRenderer)('ndjson');
  const good = craftedBatches()[0];
  t.notThrows(() => renderer.render(good));
  for (const cut of [0, 8, 16, 100, good.byteLength - 8]) {
    const e = t.throws(() => renderer.render(good.slice(0, cut)));
    t.is(e.code, 'ERR_BATCH_FORMAT', `cut at ${cut}`);
  }
  const wrongCount = good.slice(0);
  new DataView(wrongCount).setUint32(8, 3, true);
  t.is(t.throws(() => renderer.render(wrongCount)).code, 'ERR_BATCH_FORMAT');
  const b = new BatchBuilder();
  b.event(1, 12345, 1); // names no snapshot
  t.is(t.throws(() => renderer.render(b.finish())).code, 'ERR_BATCH_FORMAT');
  t.throws(() => new (binding().TextRenderer)('xml'), { instanceOf: TypeError });
});

test('crafted traces: every event both ways, NDJSON and conn.log, in batches small and large', async (t) => {
  const file = variedTrace();
  let compared = 0;
  const raised = new Set();
  for (const batchEvents of [1, 7, 4096]) {
    const r = await bothWays({ file }, { ...EVERYTHING, batchEvents }, 'ndjson');
    t.true(same(t, r.native, r.js, `ndjson, batchEvents ${batchEvents}`));
    compared += r.events;
    for (const n of r.native.names) raised.add(n);
    const c = await bothWays({ file }, { ignoreChecksums: batchEvents === 7, batchEvents }, 'conn');
    t.true(same(t, c.native, c.js, `conn, batchEvents ${batchEvents}`));
    t.log(`conn rows ${c.native.ends.length}`);
  }
  // What a trace cannot raise here is covered by the crafted batches.
  const notRaised = EVENT_NAMES.filter((n) => !raised.has(n));
  t.deepEqual(notRaised, ['contents_file_write_failure']); // its messages are constants: see the crafted batches
  t.log(`${compared} events compared`);
  const many = manyConnections({ connections: 3000 }).writer.write(scratch('text-many.pcap'));
  for (const format of ['ndjson', 'conn']) {
    for (const workers of [1, 3]) {
      // Sharded: batches of three engines, merged, rendered by one renderer.
      const r = await bothWays({ file: many }, { workers, batchEvents: 64 }, format);
      t.true(same(t, r.native, r.js, `many connections, ${format}, ${workers} workers`));
      t.true(r.native.ends.length >= 3000);
    }
  }
  const sharded = await bothWays({ file }, { ...EVERYTHING, workers: 2 }, 'ndjson');
  t.true(same(t, sharded.native, sharded.js, 'ndjson, 2 workers'));
});

const CORPUS = process.env.TCPSENSOR_CONFORMANCE ?? resolve(root, '..', 'shared', 'conformance');
const haveCorpus = existsSync(join(CORPUS, 'manifest.json'));
const corpusTest = haveCorpus ? test : test.skip;
const corpusNote = haveCorpus ? '' : ` (skipped: no conformance corpus at ${CORPUS}; set TCPSENSOR_CONFORMANCE)`;

// Each run of the corpus with the arguments the conformance runner gives
// the CLI, rendered both ways.
async function corpusBothWays(t, format) {
  const { entries } = JSON.parse(readFileSync(join(CORPUS, 'manifest.json'), 'utf8'));
  let events = 0;
  let lines = 0;
  for (const entry of entries) {
    const given = format === 'conn' ? entry.connArgs : entry.args;
    const mode = format === 'conn' ? ['--format', 'conn'] : ['--events', 'all', '--contents', 'all'];
    const argv = ['-r', join(CORPUS, entry.trace), ...(given ?? [...mode, ...(entry.variant === 'ignore_checksums' ? ['-C'] : [])])];
    const parsed = parseCommandLine(argv);
    const r = await bothWays(parsed.source, parsed.options, format);
    if (!same(t, r.native, r.js, `${entry.trace} ${entry.variant}`)) return;
    events += r.events;
    lines += r.native.ends.length;
  }
  t.log(`${entries.length} runs, ${events} events, ${lines} lines compared`);
  t.true(lines > 0);
}

corpusTest(`conformance corpus: every event of every run renders the same both ways (NDJSON)${corpusNote}`, async (t) => {
  t.timeout(600_000);
  await corpusBothWays(t, 'ndjson');
});

corpusTest(`conformance corpus: every conn.log row of every run renders the same both ways${corpusNote}`, async (t) => {
  t.timeout(600_000);
  await corpusBothWays(t, 'conn');
});

// ---------------------------------------------------------------------------
// The sensor's text interface

const small = (() => {
  const f = new TcpFlow({ client: '10.8.0.1:1000', server: '10.8.0.2:80', t0: 50 });
  f.handshake();
  f.data('c', 'hello');
  f.close();
  return f.write(scratch('text-small.pcap'));
})();

test('a text sensor has textBatches() and no events; an event sensor the other way round (ERR_OUTPUT_MODE)', async (t) => {
  const text = open({ file: small }, { output: 'ndjson' });
  t.is(t.throws(() => text[Symbol.asyncIterator]()).code, 'ERR_OUTPUT_MODE');
  await t.throwsAsync(async () => {
    for await (const _ of text.batches()) break;
  }, { instanceOf: TcpsensorError, code: 'ERR_OUTPUT_MODE' });
  const batches = [];
  for await (const b of text.textBatches()) batches.push(b);
  t.true(batches.length > 0);
  t.true(batches.every((b) => b.ends.length > 0 && b.ends.length === b.names.length));
  t.true(text.closed);

  const events = open({ file: small });
  await t.throwsAsync(async () => {
    for await (const _ of events.textBatches()) break;
  }, { instanceOf: TcpsensorError, code: 'ERR_OUTPUT_MODE' });
  events.close();
});

test('textBatches() has one consumer', async (t) => {
  const sensor = open({ file: small }, { output: 'conn' });
  const first = sensor.textBatches();
  await first.next();
  await t.throwsAsync(async () => {
    for await (const _ of sensor.textBatches()) break;
  }, { code: 'ERR_ALREADY_ITERATING' });
  await first.return();
  t.true(sensor.closed);
});

test('output is checked: ndjson or conn, and conn needs the events its rows are made of', (t) => {
  t.throws(() => open({ file: small }, { output: 'xml' }), { instanceOf: RangeError });
  t.throws(() => open({ file: small }, { output: 'conn', events: ['connection_state_remove'] }), { instanceOf: RangeError, message: /content_gap/ });
  t.notThrows(() => open({ file: small }, { output: 'conn', events: ['content_gap', 'connection_state_remove', 'new_connection'] }).close());
  t.is(binding().textBatchVersion, TEXT_BATCH_VERSION);
});

test('TextBatch: names per line, ends past each newline; renderEvents makes the same of objects', async (t) => {
  const [batch] = await (async () => {
    const out = [];
    for await (const b of open({ file: small }, { output: 'ndjson', events: 'all' }).textBatches()) out.push(b);
    return out;
  })();
  const lines = batch.text.toString().split('\n').slice(0, -1);
  t.is(lines.length, batch.ends.length);
  t.deepEqual(lines.map((l) => JSON.parse(l).event), [...batch.names]);
  t.is(batch.text.subarray(batch.ends[0], batch.ends[1]).toString(), lines[1] + '\n');
  const objects = [];
  for await (const ev of open({ file: small }, { events: 'all' })) objects.push(ev);
  const js = renderEvents(objects, 'ndjson');
  t.true(js.text.equals(batch.text));
  t.deepEqual([...js.ends], [...batch.ends]);
  t.throws(() => renderEvents(objects, 'csv'), { instanceOf: RangeError });
});

test('a slow consumer of text batches loses nothing (file mode waits)', async (t) => {
  const file = manyConnections({ connections: 2000 }).writer.write(scratch('text-slow.pcap'));
  const fast = [];
  for await (const b of open({ file }, { output: 'ndjson' }).textBatches()) fast.push(b);
  const sensor = open({ file }, { output: 'ndjson', batchEvents: 8, highWaterMark: 1 });
  const slow = [];
  for await (const b of sensor.textBatches()) {
    slow.push(b);
    if (slow.length % 50 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
  }
  t.true(slow.length > 100);
  t.true(joined(slow).text.equals(joined(fast).text));
  const stats = sensor.stats();
  t.is(stats.eventsDroppedByQueue, 0);
  t.is(stats.events, joined(slow).ends.length);
  // At most highWaterMark batches in flight, rendered or not.
  t.true(stats.queuedBytesPeak < 64 * 1024, `queuedBytesPeak ${stats.queuedBytesPeak}`);
});

test('stats records keep their place among text batches', async (t) => {
  const file = manyConnections({ connections: 3000, spacing: 0.01 }).writer.write(scratch('text-stats.pcap'));
  // Where each stats record falls: after how many events (or lines), and
  // the events it counts. (With several workers, its packet count is
  // whatever the decoding thread had published by then.)
  const places = async (sensor, next) => {
    const at = [];
    let seen = 0;
    sensor.on('stats', (r) => at.push([seen, r.events_proc]));
    for await (const n of next(sensor)) seen += n;
    return at;
  };
  // One engine (records placed by arrival), and three (placed by the merge).
  for (const workers of [1, 3]) {
    const options = { statsInterval: 5, batchEvents: 100, workers };
    const objects = await places(open({ file }, options), async function* (s) {
      for await (const b of s.batches()) yield b.length;
    });
    const text = await places(open({ file }, { ...options, output: 'ndjson' }), async function* (s) {
      for await (const b of s.textBatches()) yield b.ends.length;
    });
    t.true(objects.length >= 5);
    t.deepEqual(text, objects, `${workers} workers`);
  }
});

const why = whyNoLiveCapture();
const live = why ? test.skip : test.serial;
live(`live text: a stalled reader makes the capture drop whole batches, every event delivered or counted${why ? ` (skipped: ${why})` : ''}`, async (t) => {
  const env = await vethWithServer(t);
  const sensor = open({ interface: env.iface }, { ignoreChecksums: true, batchEvents: 1, highWaterMark: 1, output: 'ndjson' });
  t.teardown(() => sensor.close());
  const it = sensor.textBatches();
  let lines = 0;
  const first = it.next(); // starts the capture; the reader then stalls
  for (let i = 0; i < 5; i++) await (await talk(env, `stall ${i}`)).end();
  lines += (await first).value.ends.length;
  await new Promise((resolve) => setTimeout(resolve, 400));
  sensor.stop();
  for (let r = await it.next(); !r.done; r = await it.next()) lines += r.value.ends.length;
  const stats = sensor.stats();
  t.true(stats.eventsDroppedByQueue > 0, `eventsDroppedByQueue ${stats.eventsDroppedByQueue}`);
  t.true(stats.batchesDroppedByQueue > 0);
  t.is(lines + stats.eventsDroppedByQueue, stats.events);
});

test('pipeTo: a text sensor hands its native batches to the sink, the same lines as an event sensor rendered in JavaScript', async (t) => {
  const file = manyConnections({ connections: 500 }).writer.write(scratch('text-pipe.pcap'));
  const collect = () => {
    const batches = [];
    return { batches, write: (b) => void batches.push({ text: Buffer.from(b.text), ends: [...b.ends], names: [...b.names] }), end: async () => batches.length, abort: () => {} };
  };
  for (const format of ['ndjson', 'conn']) {
    const native = collect();
    const sensor = open({ file }, { output: format, statsInterval: 1 });
    t.is(sensor.output, format);
    await sensor.pipeTo(native);
    const js = collect();
    await open({ file }, { statsInterval: 1, ...(format === 'conn' ? { events: [...CONN_LOG_EVENTS] } : {}) }).pipeTo(js, { format });
    t.true(same(t, joined(native.batches), joined(js.batches), `pipeTo, ${format}`));
    t.true(native.batches.some((b) => b.names[0] === 'stats'));
  }
  await t.throwsAsync(() => open({ file }, { output: 'conn' }).pipeTo(collect(), { format: 'ndjson' }), { instanceOf: RangeError });
});
