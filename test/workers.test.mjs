// Several workers: a file is decoded once and its connections spread over
// N engines that share network time, so the events are those of one
// engine (uids included), merged in a deterministic order; live, N capture
// handles on one interface join a PACKET_FANOUT group whose hash keeps
// both directions of a connection together.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { PcapWriter, TcpFlow, ether, fragmentIPv4, ipv4, tcp, udp } from './helpers/pcap.mjs';
import { conversations, until, vethWithServer, whyNoLiveCapture } from './helpers/netns.mjs';
import { collect, drain, named, ndjson, runCli, scratch, tcpsensor } from './helpers/run.mjs';

const { open } = tcpsensor;

// A trace that exercises what sharding could get wrong: 300 interleaved
// conversations; timers of every kind firing at other workers' packets
// (attempts, an inactivity timeout, resets, closes); a 4-tuple
// reused; a role flip; connections inside GRE and VXLAN (the outer flows
// hash elsewhere than the inner ones); IP fragments; and a gap of network
// time long enough for mass expiry.
function mixedTrace() {
  const w = new PcapWriter();
  for (let i = 0; i < 300; i++) {
    const f = new TcpFlow({ writer: w, t0: 100 + i * 0.01, step: 0.003, client: `10.1.${i >> 8}.${i & 255}:${20000 + i}`, server: `10.2.0.${i % 7}:80` });
    f.handshake();
    f.data('c', `GET /${i}`);
    f.data('s', Buffer.alloc(100 + (i % 50), 65 + (i % 26)));
    if (i % 5 === 0) f.rst('c');
    else if (i % 5 === 1) f.fin('c'); // half closed: partial close timer
    else f.close();
  }
  // Unanswered SYNs: connection_attempt 5 s later, at someone else's packet.
  for (let i = 0; i < 20; i++) new TcpFlow({ writer: w, client: `10.3.0.${i}:30000`, server: '10.4.0.1:22', t0: 101 + i * 0.05 }).syn();
  // Reuse: the same 4-tuple twice.
  const first = new TcpFlow({ writer: w, client: '10.5.0.1:40000', server: '10.5.0.2:80', t0: 102 });
  first.handshake();
  first.close();
  const again = new TcpFlow({ writer: w, client: '10.5.0.1:40000', server: '10.5.0.2:80', t0: 102.5, isn: 90000 });
  again.handshake();
  again.data('c', 'second life');
  again.close();
  // A flip: the SYN-ACK comes first, then the client's ACK.
  const flipped = new TcpFlow({ writer: w, client: '10.6.0.1:40000', server: '10.6.0.2:443', t0: 103 });
  flipped.synAck();
  flipped.ack('c');
  flipped.data('c', 'after the flip');
  // Picked up mid-stream, its first packet a FIN.
  const partial = new TcpFlow({ writer: w, client: '10.6.1.1:40000', server: '10.6.1.2:80', t0: 103.5 });
  partial.fin('c');
  partial.data('s', 'still talking');
  // Inside GRE and inside VXLAN.
  const gre = (p) => ether(ipv4({ src: '192.0.2.1', dst: '192.0.2.2', proto: 47, payload: Buffer.concat([Buffer.from([0, 0, 0x08, 0x00]), p]) }));
  const inGre = new TcpFlow({ writer: w, client: '10.7.0.1:40000', server: '10.7.0.2:80', t0: 104, link: gre });
  inGre.handshake();
  inGre.data('c', 'through gre');
  inGre.close();
  const vxlan = (p) => {
    const header = Buffer.from([0x08, 0, 0, 0, 0, 0, 42, 0]);
    const fromClient = p.subarray(12, 16).equals(Buffer.from([10, 8, 0, 1]));
    const [src, dst, sport] = fromClient ? ['192.0.2.5', '192.0.2.6', 50000] : ['192.0.2.6', '192.0.2.5', 50001];
    return ether(ipv4({ src, dst, proto: 17, payload: udp({ sport, dport: 4789, src, dst, payload: Buffer.concat([header, ether(p)]) }) }));
  };
  const inVxlan = new TcpFlow({ writer: w, client: '10.8.0.1:40000', server: '10.8.0.2:80', t0: 104.5, link: vxlan });
  inVxlan.handshake();
  inVxlan.data('s', 'through vxlan');
  inVxlan.close();
  // Fragments: the request in two IP fragments.
  const frag = new TcpFlow({ writer: w, client: '10.9.0.1:40000', server: '10.9.0.2:80', t0: 105 });
  frag.handshake();
  const request = ipv4({ src: '10.9.0.1', dst: '10.9.0.2', id: 777, df: false,
    payload: tcp({ sport: 40000, dport: 80, seq: frag.c.seq, ack: frag.s.seq, flags: 'PA', payload: Buffer.alloc(600, 0x42), src: '10.9.0.1', dst: '10.9.0.2' }) });
  for (const [k, piece] of fragmentIPv4(request, [[0, 304], [304, 620]]).entries()) w.add(105.5 + k * 0.01, ether(piece));
  frag.c.seq += 600;
  frag.ack('s', { at: 105.6 });
  // An idle connection, then a long quiet spell: its inactivity timeout
  // (tcpInactivityTimeout 30 s below) fires at the packet that ends it.
  const idle = new TcpFlow({ writer: w, client: '10.10.0.1:40000', server: '10.10.0.2:5432', t0: 106 });
  idle.handshake();
  idle.data('c', 'then nothing');
  new TcpFlow({ writer: w, client: '10.11.0.1:40000', server: '10.11.0.2:80', t0: 200 }).handshake();
  return w.sortByTime().write(scratch('workers-mixed.pcap'));
}

const OPTIONS = { events: 'all', contentDeliverAllOrig: true, contentDeliverAllResp: true, tcpInactivityTimeout: 30 };

// An event as text, bytes in hex, without the worker that raised it.
const text = (ev) => {
  const { worker: _w, ...rest } = ev;
  return JSON.stringify(rest, (k, v) => (v?.type === 'Buffer' ? Buffer.from(v.data).toString('hex') : v));
};

test('N = 1, 2, 4 workers raise the same events, uids included; the merged order is deterministic', async (t) => {
  const file = mixedTrace();
  const one = await collect(file, OPTIONS);
  const names = new Set(one.map((e) => e.event));
  for (const kind of ['connection_attempt', 'connection_reused', 'connection_flipped', 'connection_timeout', 'connection_reset', 'connection_finished', 'tcp_contents']) {
    t.true(names.has(kind), `the trace raises ${kind}`);
  }
  const reference = one.map(text).sort();
  for (const workers of [2, 4]) {
    const sharded = await collect(file, { ...OPTIONS, workers });
    t.deepEqual(sharded.map(text).sort(), reference, `${workers} workers`);
    t.true(sharded.every((e) => Number.isInteger(e.worker) && e.worker >= 0 && e.worker < workers));
    // Every worker had a share.
    t.is(new Set(sharded.map((e) => e.worker)).size, workers);
    // A connection stays with one worker.
    const owner = new Map();
    for (const e of sharded) {
      t.is(owner.get(e.uid) ?? e.worker, e.worker, e.uid);
      owner.set(e.uid, e.worker);
    }
    const again = await collect(file, { ...OPTIONS, workers });
    t.deepEqual(again.map((e) => `${e.worker} ${text(e)}`), sharded.map((e) => `${e.worker} ${text(e)}`), 'the same order every run');
  }
  t.true(one.every((e) => e.worker === undefined));
});

test('stats(): totals, and each worker its own share', async (t) => {
  const file = mixedTrace();
  const single = open({ file }, OPTIONS);
  await drain(single);
  const s1 = single.stats();
  const sensor = open({ file }, { ...OPTIONS, workers: 3 });
  await drain(sensor);
  const s = sensor.stats();
  for (const k of ['packetsReceived', 'packetsTcp', 'segments', 'events', 'connectionsTotal', 'ackEvents', 'gapEvents']) t.is(s[k], s1[k], k);
  t.deepEqual(s.malformed, s1.malformed);
  t.is(s.workers.length, 3);
  t.is(s.workers.reduce((n, w) => n + w.segments, 0), s.segments);
  t.is(s.workers.reduce((n, w) => n + w.events, 0), s.events);
  t.true(s.workers.every((w) => w.segments > 0 && w.packetsReceived === 0));
  t.is(s1.workers, undefined);
});

test('the CLI with --workers writes the same NDJSON as one worker, in the same order every run', async (t) => {
  const file = mixedTrace();
  const one = await runCli(['-r', file, '--events', 'all', '--contents', 'all']);
  const two = await runCli(['-r', file, '--events', 'all', '--contents', 'all', '--workers', '2']);
  const twoAgain = await runCli(['-r', file, '--events', 'all', '--contents', 'all', '--workers', '2']);
  t.is(two.code, 0, two.stderr);
  t.deepEqual(two.stdout.split('\n').sort(), one.stdout.split('\n').sort());
  t.is(twoAgain.stdout, two.stdout);
  t.false(two.stdout.includes('"worker"'));
  const conn1 = ndjson((await runCli(['-r', file, '--format', 'conn'])).stdout);
  const conn4 = ndjson((await runCli(['-r', file, '--format', 'conn', '-w', '4'])).stdout);
  t.deepEqual(conn4.map((r) => JSON.stringify(r)).sort(), conn1.map((r) => JSON.stringify(r)).sort());
});

test('workers: contents files reach the engine that has the connection; a stop, a close and a break behave', async (t) => {
  const file = mixedTrace();
  // One event a batch, one batch ahead: the workers wait for the reader,
  // so the connection is still young when the request reaches its engine.
  const sensor = open({ file }, { workers: 2, events: 'all', batchEvents: 1, highWaterMark: 1 });
  const path = scratch('workers-contents.dat');
  let set;
  for await (const ev of sensor) {
    if (ev.event === 'connection_established' && ev.id.orig_p === 20000) {
      set = await sensor.setContentsFile(ev.uid, 'both', path);
      t.is(await sensor.getContentsFile(ev.uid, 'orig'), path);
      t.is(await sensor.getContentsFile('C0000000', 'orig'), null);
    }
  }
  t.true(set);
  // Both directions of conversation 0, from the request on. The engine may
  // have delivered the request before it took up the request to write
  // (the workers run a little ahead of the reader): then, as Zeek does for
  // delivered bytes it no longer holds, a gap marker stands for them.
  t.regex(readFileSync(path, 'latin1'), /^(GET \/0|\n<<gap 6>>\n)A{100}$/);

  let seen = 0;
  const broken = open({ file }, { workers: 2 });
  for await (const _ of broken) if (++seen === 50) break;
  t.true(broken.closed);

  const stopped = open({ file }, { workers: 2 });
  const it = stopped[Symbol.asyncIterator]();
  await it.next();
  stopped.stop();
  const rest = [];
  for (let r = await it.next(); !r.done; r = await it.next()) rest.push(r.value);
  t.true(named(rest, 'connection_state_remove').length > 0);

  const closed = open({ file }, { workers: 4 });
  const reading = drain(closed);
  closed.close();
  const { error } = await reading;
  t.is(error, undefined);
});

test('workers: the checksum warning and stats records keep their place in the merged stream', async (t) => {
  const w = new PcapWriter();
  const f = new TcpFlow({ writer: w, t0: 100, step: 0.5, client: '10.1.0.1:40000', server: '10.1.0.2:80' });
  f.handshake();
  for (let at = 101; at <= 130; at += 0.5) f.data(at % 1 === 0 ? 'c' : 's', 'x', { at, checksum: at % 1 === 0 ? 1 : undefined });
  for (let i = 0; i < 40; i++) {
    const g = new TcpFlow({ writer: w, t0: 100.2 + i * 0.7, client: `10.3.0.${i}:4000${i % 10}`, server: '10.3.1.1:80' });
    g.handshake();
    g.close();
  }
  const file = w.sortByTime().write(scratch('workers-warning.pcap'));
  for (const workers of [1, 3]) {
    const sensor = open({ file }, { workers, statsInterval: 10, events: ['new_connection', 'conn_weird'] });
    const events = [];
    const records = [];
    const warnings = [];
    sensor.on('warning', (x) => warnings.push({ x, after: events.length }));
    sensor.on('stats', (r) => records.push({ r, after: events.length }));
    for await (const ev of sensor) events.push(ev);
    t.is(warnings.length, 1, `${workers}`);
    const at = warnings[0].x.detail.networkTime;
    t.true(events.slice(0, warnings[0].after).every((e) => e.ts < at), `${workers}: before the warning`);
    t.true(events.slice(warnings[0].after).every((e) => e.ts >= at), `${workers}: after the warning`);
    t.is(records.reduce((n, { r }) => n + r.events_proc, 0), events.length);
    t.is(records.reduce((n, { r }) => n + r.pkts_proc, 0), sensor.stats().packetsReceived);
    for (const { r, after } of records) {
      t.true(events.slice(0, after).every((e) => e.ts <= r.ts), `${workers}: events before the record at ${r.ts}`);
    }
  }
});

test('--workers takes 1 to 64', async (t) => {
  for (const bad of ['0', '65', 'two']) t.is((await runCli(['-r', 'x.pcap', '--workers', bad])).code, 2);
  t.throws(() => open({ file: 'x.pcap' }, { workers: 0 }), { instanceOf: RangeError });
});

const why = whyNoLiveCapture();
const live = why ? test.skip : test.serial;

live(`live, 2 workers: one PACKET_FANOUT group; both directions of every connection reach one worker${why ? ` (skipped: ${why})` : ''}`, async (t) => {
  const env = await vethWithServer(t);
  const sensor = open({ interface: env.iface }, { ignoreChecksums: true, workers: 2, events: ['connection_established', 'connection_state_remove'] });
  t.teardown(() => sensor.close());
  const reading = drain(sensor);
  const ports = await conversations(env, 60);
  await until(() => sensor.stats().connectionsTotal >= 60, 5000, 'the connections');
  sensor.stop();
  const { events, error } = await reading;
  t.is(error, undefined);
  const removed = events.filter((e) => e.event === 'connection_state_remove' && e.id.resp_h === env.serverAddr);
  const byPort = (a, b) => a - b;
  t.deepEqual(removed.map((e) => e.id.orig_p).sort(byPort), [...ports].sort(byPort));
  for (const e of removed) {
    // Both sides' packets were analysed by the same engine: the history
    // has the client's SYN and the server's SYN-ACK, and packets both ways.
    t.regex(e.conn.history, /^Sh/, `${e.id.orig_p}: ${e.conn.history}`);
    t.true(e.conn.orig.num_pkts > 0 && e.conn.resp.num_pkts > 0);
    t.true(e.worker === 0 || e.worker === 1);
  }
  // The hash spread them over both workers, and each counted its own.
  t.is(new Set(removed.map((e) => e.worker)).size, 2);
  const s = sensor.stats();
  t.is(s.workers.length, 2);
  t.true(s.workers.every((w) => w.packetsReceived > 0));
  t.is(s.workers.reduce((n, w) => n + w.packetsReceived, 0), s.packetsReceived);
  t.is(s.packetsDroppedByKernel, s.workers.reduce((n, w) => n + w.packetsDroppedByKernel, 0));
});
