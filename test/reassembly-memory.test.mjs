// The bound on reassembly memory (maxReassemblyBytes) and what it does at
// the limit (native/core/tcp_reassembly.cc make_room / flush,
// block_list.cc BlockMemory::victim): room is made by flushing the oldest
// holders of more than their fair share; a flushed endpoint's holes become
// gaps (content_gap, G, missed_bytes), the data it held is delivered and it
// goes on reassembling. Legitimate connections holding a little for a short
// while come out complete however much attackers hold.
import test from 'ava';
import { PcapWriter, TcpFlow } from './helpers/pcap.mjs';
import { named, scratch, tcpsensor } from './helpers/run.mjs';

let n = 0;
const CONTENTS = { contentDeliverAllOrig: true, contentDeliverAllResp: true };

// Runs a trace; resolves its events, the final stats and the largest
// reassemblyBytes a stats record showed.
async function run(file, options) {
  const sensor = tcpsensor.open({ file }, { statsInterval: 0.05, ...options });
  let peak = 0;
  sensor.on('stats', (r) => (peak = Math.max(peak, r.reassem_tcp_size)));
  const events = [];
  for await (const ev of sensor) events.push(ev);
  return { events, stats: sensor.stats(), peak };
}

// The bytes of a legitimate stream: position-dependent, so that a byte in
// the wrong place or missing shows.
const pattern = (j, from, len) => Buffer.from(Array.from({ length: len }, (_, i) => (from + i) * 7 + j * 13 + ((from + i) >> 8)));

// A trace of flows built step by step (one packet each, on one clock), the
// flows' steps interleaved round-robin.
function interleave(flows) {
  for (let round = 0; flows.some((f) => round < f.steps.length); round++) {
    for (const f of flows) if (round < f.steps.length) f.steps[round]();
  }
}

function build({ attackers, legit, segment = 500, holeEvery = 16, attackSegments = 48 }) {
  const writer = new PcapWriter();
  let clock = 100;
  const at = () => (clock = +(clock + 0.001).toFixed(6));
  const flows = [];
  for (let i = 0; i < attackers; i++) {
    const f = new TcpFlow({ writer, client: `10.1.0.${i + 1}:${20000 + i}`, server: '10.2.0.1:80', isn: 1000 + i * 100000 });
    const steps = [
      () => f.syn({ at: at() }),
      () => f.synAck({ at: at() }),
      () => f.ack('c', { at: at() }),
      () => f.data('c', 'x', { at: at() }),
      () => f.ack('s', { at: at() }), // the byte acked: Zeek's above-hole limit does not apply
    ];
    for (let k = 0; k < attackSegments; k++) {
      steps.push(() => {
        // A new hole every few segments: the attacker holds again after a flush.
        if (k % holeEvery === 0) f.c.seq = (f.c.seq + 100) >>> 0;
        f.data('c', Buffer.alloc(segment, 0x41 + (k % 26)), { at: at() });
      });
    }
    flows.push({ steps });
  }
  const legitFlows = [];
  for (let j = 0; j < legit; j++) {
    const f = new TcpFlow({ writer, client: `10.3.0.${j + 1}:${30000 + j}`, server: '10.4.0.1:8080', isn: 7000 + j * 50000 });
    const base = (f.c.seq + 1) >>> 0;
    const seg = 400;
    const count = 20;
    const send = (k) => () => f.packet('c', { flags: 'PA', seq: (base + k * seg) >>> 0, payload: pattern(j, k * seg, seg), at: at() });
    const ackUpTo = (k) => () => f.packet('s', { flags: 'A', ack: (base + k * seg) >>> 0, at: at() });
    // Pairs swapped, segment 9 lost and sent again six packets later.
    const order = [1, 0, 3, 2, 5, 4, 7, 6, 8, 11, 10, 12, 13, 9, 15, 14, 17, 16, 19, 18];
    const steps = [() => f.syn({ at: at() }), () => f.synAck({ at: at() }), () => f.ack('c', { at: at() })];
    order.forEach((k, i) => {
      steps.push(send(k));
      if (i % 4 === 3) steps.push(ackUpTo(i < 13 ? Math.min(9, i + 1) : i + 1));
    });
    steps.push(ackUpTo(count));
    steps.push(() => {
      f.c.seq = (base + count * seg) >>> 0;
      f.fin('c', { at: at() });
    });
    steps.push(() => f.fin('s', { at: at() }));
    steps.push(() => f.ack('c', { at: at() }));
    legitFlows.push({ port: 30000 + j, bytes: pattern(j, 0, count * seg) });
    // Legitimate connections start once the attack is under way.
    flows.push({ steps: [...Array(6 + j).fill(() => {}), ...steps] });
  }
  interleave(flows);
  return { file: writer.write(scratch(`memory-${++n}.pcap`)), legitFlows };
}

// A connection whose first byte is acknowledged (so that Zeek's
// tcp_max_above_hole_without_any_acks does not apply).
function ackedFlow(step) {
  const f = new TcpFlow({ t0: 100, step });
  f.handshake();
  f.data('c', 'a');
  f.ack('s');
  return f;
}

// Each legitimate connection's stream as delivered, and whether anything
// about it says bytes went missing.
function legitStreams(events, legitFlows) {
  return legitFlows.map(({ port, bytes }) => {
    const mine = events.filter((e) => e.id?.orig_p === port);
    const contents = named(mine, 'tcp_contents').filter((e) => e.is_orig);
    let next = 1;
    let contiguous = true;
    for (const c of contents) {
      if (c.seq !== next) contiguous = false;
      next = c.seq + c.contents.length;
    }
    const remove = named(mine, 'connection_state_remove')[0];
    return {
      complete: contiguous && Buffer.concat(contents.map((c) => c.contents)).equals(bytes),
      gaps: named(mine, 'content_gap').length,
      history: remove?.conn.history,
    };
  });
}

test('at the bound, attackers holding data above holes give way, oldest above its fair share first; legitimate connections come out complete', async (t) => {
  // 40 attackers each hold up to 16 segments above a hole (8 KB, three
  // times over), 320 KB at once: beyond the bound, whose fair share is
  // 6 KB. The legitimate connections hold two or three segments for a few
  // rounds, well below it.
  const { file, legitFlows } = build({ attackers: 40, legit: 4 });
  const limit = 256 * 1024;
  const { events, stats, peak } = await run(file, {
    events: ['tcp_contents', 'content_gap', 'connection_state_remove'], ...CONTENTS, maxReassemblyBytes: limit,
  });
  t.true(stats.reassemblyFlushes >= 40, `flushes ${stats.reassemblyFlushes}`);
  t.true(peak > limit / 2 && peak <= limit, `peak ${peak}`);
  for (const s of legitStreams(events, legitFlows)) {
    t.true(s.complete);
    t.is(s.gaps, 0);
    t.false(/g/i.test(s.history), s.history);
  }
  // A flushed attacker's holes are gaps, each hole reported once (100
  // bytes each) and counted as given up; the data above them is delivered.
  const attackGaps = named(events, 'content_gap').filter((e) => e.id.resp_p === 80);
  t.true(attackGaps.length > 0);
  t.true(attackGaps.every((e) => e.length === 100));
  t.is(stats.reassemblyDroppedBytes, 100 * attackGaps.length);
  // Each hole an attacker gave up lets the 16 segments above it through;
  // what lies above a hole kept to the end is never delivered (as in Zeek).
  for (let i = 0; i < 40; i++) {
    const mine = events.filter((e) => e.id.orig_p === 20000 + i);
    const delivered = named(mine, 'tcp_contents').reduce((a, e) => a + e.contents.length, 0);
    t.is(delivered, 1 + 16 * 500 * named(mine, 'content_gap').length);
  }
  // conn.log: missed_bytes is the sum of the gaps.
  const log = new tcpsensor.ConnLog();
  let missed = 0;
  for (const e of events) missed += log.add(e)?.missed_bytes ?? 0;
  t.is(missed, 100 * attackGaps.length);

  // First come, first served would have refused the legitimate connections
  // their few held segments: with them alone, the same streams.
  const alone = build({ attackers: 0, legit: 4 });
  const quiet = await run(alone.file, { events: ['tcp_contents', 'content_gap', 'connection_state_remove'], ...CONTENTS, maxReassemblyBytes: limit });
  t.is(quiet.stats.reassemblyFlushes, 0);
  t.true(legitStreams(quiet.events, alone.legitFlows).every((s) => s.complete && s.gaps === 0));
});

test('the records of intervals count too: at the bound, the endpoints delivering nothing give way as well', async (t) => {
  const { file } = build({ attackers: 40, legit: 4 });
  const { events, stats, peak } = await run(file, { events: ['content_gap', 'connection_state_remove'], maxReassemblyBytes: 4 * 1024 });
  t.true(stats.reassemblyFlushes > 0);
  t.true(peak <= 4 * 1024, `peak ${peak}`);
  t.is(named(events, 'content_gap').reduce((a, e) => a + e.length, 0), stats.reassemblyDroppedBytes);
});

test('bytes nobody delivers are kept only while there is room: no flush, no event changes', async (t) => {
  const { file } = build({ attackers: 40, legit: 2 });
  const events = ['content_gap', 'connection_state_remove', 'connection_EOF'];
  // Room for the records, not for the bytes.
  const bounded = await run(file, { events, maxReassemblyBytes: 32 * 1024 });
  const free = await run(file, { events });
  t.is(bounded.stats.reassemblyFlushes, 0);
  t.true(bounded.peak <= 32 * 1024, `peak ${bounded.peak}`);
  t.true(free.peak > 256 * 1024, `peak ${free.peak}`);
  t.is(free.stats.reassemblyBytes, 0);
  const brief = (evs) => evs.map((e) => `${e.ts} ${e.event} ${e.uid} ${e.conn.history}`);
  t.deepEqual(brief(bounded.events), brief(free.events));
});

test('the endpoint holding most, longest, gives way itself: its hole is a gap, what it held is delivered, later data for the hole is old', async (t) => {
  const f = ackedFlow(0.001);
  const hole = f.c.seq;
  f.c.seq = (hole + 300) >>> 0;
  const held = [];
  for (let k = 0; k < 12; k++) {
    held.push(Buffer.alloc(1000, 0x61 + k));
    f.data('c', held[k]);
  }
  f.packet('c', { flags: 'PA', seq: hole, payload: Buffer.alloc(300, 0x7a) }); // the hole's data, too late
  f.ack('s');
  f.close();
  const file = f.write(scratch(`memory-${++n}.pcap`));
  const { events, stats } = await run(file, {
    events: ['tcp_contents', 'content_gap', 'connection_state_remove'], ...CONTENTS, maxReassemblyBytes: 8 * 1024,
  });
  const gaps = named(events, 'content_gap');
  t.deepEqual(gaps.map((e) => [e.seq, e.length]), [[2, 300]]);
  const contents = named(events, 'tcp_contents').filter((e) => e.is_orig);
  t.deepEqual(contents.map((e) => e.seq), [1, ...held.map((_, k) => 302 + 1000 * k)]);
  t.true(Buffer.concat(contents.slice(1).map((e) => e.contents)).equals(Buffer.concat(held)));
  t.is(stats.reassemblyDroppedBytes, 300);
  t.true(stats.reassemblyFlushes >= 1);
  t.is(stats.malformed.reassembly_memory_exceeded, stats.reassemblyFlushes);
  // The ack of everything finds nothing more missing; the history has its G.
  const remove = named(events, 'connection_state_remove')[0];
  // T: the hole's data came after it was given up.
  t.is(remove.conn.history, 'ShADaGTFf');
  t.is(remove.conn.orig.size, 1 + 300 + 12000);
});

test("zeek#575: acks stop and every segment comes twice; the stream, one interval however long, is delivered whole up to Zeek's own limit", async (t) => {
  const f = new TcpFlow({ t0: 100, step: 0.0001 });
  f.handshake();
  const segments = 6000;
  const chunk = (k) => Buffer.from(String(k % 10).repeat(10));
  for (let k = 0; k < segments; k++) {
    const seq = f.c.seq;
    f.data('c', chunk(k));
    f.packet('c', { flags: 'PA', seq, payload: chunk(k) });
    if (k < 4) f.ack('s');
  }
  const file = f.write(scratch(`memory-${++n}.pcap`));
  const { events, stats } = await run(file, { events: ['tcp_contents', 'content_gap', 'conn_weird'], ...CONTENTS });
  const contents = named(events, 'tcp_contents');
  t.is(contents.length, segments);
  t.true(Buffer.concat(contents.map((e) => e.contents)).equals(Buffer.concat(Array.from({ length: segments }, (_, k) => chunk(k)))));
  t.is(named(events, 'content_gap').length, 0);
  t.is(stats.reassemblyFlushes, 0);
  // Past Zeek's tcp_excessive_data_without_further_acks, Zeek's weird and
  // the end of delivery, as in Zeek.
  const limited = await run(file, { events: ['tcp_contents', 'conn_weird'], ...CONTENTS, tcpExcessiveDataWithoutFurtherAcks: 20000 });
  t.deepEqual(named(limited.events, 'conn_weird').map((e) => e.name), ['excessive_data_without_further_acks']);
  // 4 acknowledged, 2,000 unacknowledged within the limit, and the one
  // that crosses it (delivered before the check, as in Zeek's DataSent).
  t.is(named(limited.events, 'tcp_contents').length, 4 + 2000 + 1);
});

test('an endpoint at the bound on blocks (16,384) is flushed like a victim of the memory bound: its hole is a gap, the rest delivered', async (t) => {
  const f = ackedFlow(0.0001);
  const base = f.c.seq;
  const bytes = 16500;
  // Last byte first: every one waits for the first.
  for (let k = bytes - 1; k >= 0; k--) f.packet('c', { flags: 'PA', seq: (base + k) >>> 0, payload: Buffer.from([0x41 + (k % 26)]) });
  f.c.seq = (base + bytes) >>> 0;
  f.ack('s');
  const file = f.write(scratch(`memory-${++n}.pcap`));
  const { events, stats } = await run(file, { events: ['tcp_contents', 'content_gap'], ...CONTENTS });
  const held = 16384;
  t.deepEqual(named(events, 'content_gap').map((e) => [e.seq, e.length]), [[2, bytes - held]]);
  const delivered = named(events, 'tcp_contents').filter((e) => e.seq > 1);
  t.is(delivered.length, held);
  t.is(delivered[0].seq, 2 + bytes - held);
  t.is(stats.reassemblyFlushes, 1);
  t.is(stats.reassemblyDroppedBytes, bytes - held);
});
