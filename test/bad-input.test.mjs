// Bad input of every kind ends in a typed error or a counted anomaly —
// never a crash, a hang, or events silently lost: a capture file cut at any
// byte, garbage after it, a bad magic, odd snapshot lengths, packets
// captured short, headers and options whose lengths run past the packet,
// long IPv6 extension chains. With one engine and with sharded workers.
import test from 'ava';
import { writeFileSync } from 'node:fs';
import { PcapWriter, TcpFlow, ether, ipv6, tcp } from './helpers/pcap.mjs';
import { collectWithStats, drain, named, scratch, tcpsensor } from './helpers/run.mjs';

const { open, TcpsensorError } = tcpsensor;
let n = 0;
const path = (name) => scratch(`bad-${++n}-${name}`);

// Two complete conversations and the start of a third: about 1.2 KB.
function small() {
  const w = new PcapWriter();
  for (let i = 0; i < 2; i++) {
    const f = new TcpFlow({ writer: w, t0: 100 + i, client: `10.0.0.${i + 1}:4000${i}`, server: '10.0.1.1:80' });
    f.handshake();
    f.data('c', 'hello');
    f.close();
  }
  new TcpFlow({ writer: w, t0: 103, client: '10.0.0.9:40009', server: '10.0.1.1:80' }).syn();
  return w.toBuffer();
}

async function read(file, options = {}) {
  const sensor = open({ file }, { events: 'all', ...options });
  const r = await drain(sensor);
  return { ...r, stats: sensor.stats() };
}

for (const workers of [1, 2]) {
  const label = workers === 1 ? '' : ` (${workers} workers)`;

  test(`a capture cut at every byte: the events before the cut, then a typed error or a clean end${label}`, async (t) => {
    const whole = small();
    const wholeFile = path('whole.pcap');
    writeFileSync(wholeFile, whole);
    const full = await read(wholeFile, { workers });
    let errors = 0;
    // Every byte with one engine; sharded, every fifth (each run starts threads).
    for (let cut = 0; cut <= whole.length; cut += workers === 1 ? 1 : 5) {
      const file = path(`cut-${cut}.pcap`);
      writeFileSync(file, whole.subarray(0, cut));
      let r;
      try {
        r = await read(file, { workers });
      } catch (err) {
        // Opening refuses what has no complete file header.
        t.true(cut < 24, `open failed at ${cut}: ${err.message}`);
        t.true(err instanceof TcpsensorError);
        t.is(err.code, 'ERR_PCAP_FORMAT');
        continue;
      }
      if (r.error) {
        errors++;
        t.true(['ERR_PCAP_TRUNCATED', 'ERR_PCAP_READ'].includes(r.error.code), `cut at ${cut}: ${r.error.code}`);
      }
      // Never more than the whole file's events, and the end-of-input flush
      // always happened.
      t.true(r.events.length <= full.events.length + 2, `cut at ${cut}`);
      if (r.stats.packetsReceived > 0) t.true(named(r.events, 'connection_state_remove').length > 0, `cut at ${cut}`);
    }
    t.true(errors > whole.length / (workers === 1 ? 2 : 10));
  });

  test(`garbage after the last record is a typed error after every event${label}`, async (t) => {
    const whole = small();
    const reference = await read((() => { const f = path('ref.pcap'); writeFileSync(f, whole); return f; })(), { workers });
    for (const garbage of [Buffer.from('not a record'), Buffer.alloc(64, 0xff), Buffer.alloc(20, 0)]) {
      const file = path('garbage.pcap');
      writeFileSync(file, Buffer.concat([whole, garbage]));
      const r = await read(file, { workers });
      t.true(r.error instanceof TcpsensorError, garbage.toString('hex'));
      t.true(['ERR_PCAP_TRUNCATED', 'ERR_PCAP_READ'].includes(r.error.code), r.error.code);
      // Twenty zero bytes hold a valid empty record (counted as too short
      // for its link layer) before the cut.
      const extra = r.stats.packetsReceived - reference.stats.packetsReceived;
      t.true(extra === 0 || (extra === 1 && r.stats.malformed.link_truncated === 1), `${extra} more packets`);
      t.deepEqual(r.events.map((e) => e.event).sort(), reference.events.map((e) => e.event).sort());
    }
  });
}

test('a bad magic, or no header at all, is ERR_PCAP_FORMAT at open()', (t) => {
  for (const magic of [0, 0xdeadbeef, 0x0a0d0d0b /* pcapng's, without its block */]) {
    const b = small();
    b.writeUInt32LE(magic, 0);
    const file = path('magic.pcap');
    writeFileSync(file, b.subarray(0, magic === 0x0a0d0d0b ? 12 : b.length));
    const err = t.throws(() => open({ file }), { instanceOf: TcpsensorError });
    t.is(err.code, 'ERR_PCAP_FORMAT', magic.toString(16));
  }
});

test('a snapshot length of 0 or 2^31 in the file header: the packets are read as libpcap reads them', async (t) => {
  const reference = (() => { const f = path('snap.pcap'); writeFileSync(f, small()); return f; })();
  const want = await collectWithStats(reference, { events: 'all' });
  for (const snaplen of [0, 2 ** 31, 2 ** 32 - 1]) {
    const b = small();
    b.writeUInt32LE(snaplen >>> 0, 16);
    const file = path('snap.pcap');
    writeFileSync(file, b);
    const got = await collectWithStats(file, { events: 'all' });
    t.is(got.stats.packetsReceived, want.stats.packetsReceived, `snaplen ${snaplen}`);
    t.is(got.events.length, want.events.length, `snaplen ${snaplen}`);
  }
});

test('a capture made with a 64-byte snapshot length: connections analysed, payload counted missing, nothing invented', async (t) => {
  const w = new PcapWriter({ snaplen: 64 });
  const f = new TcpFlow({ writer: w, t0: 100, client: '10.0.0.1:40000', server: '10.0.1.1:80' });
  const cut = { caplen: 64 - 14 }; // of the IP packet: 64 bytes of frame
  f.syn(cut);
  f.synAck(cut);
  f.ack('c', cut);
  f.data('c', 'x'.repeat(500), cut);
  f.data('s', 'y'.repeat(1400), cut);
  f.close();
  const { events, stats } = await collectWithStats(f.write(path('snap64.pcap')), { events: 'all', contentDeliverAllOrig: true, contentDeliverAllResp: true });
  t.is(named(events, 'connection_established').length, 1);
  const rm = named(events, 'connection_state_remove')[0];
  t.is(rm.conn.orig.size, 500);
  t.is(rm.conn.resp.size, 1400);
  // Payload never captured is never delivered as contents.
  for (const e of named(events, 'tcp_contents')) t.true(e.contents.length <= 50 - 20 - 20, e.contents.length);
  t.true(rm.conn.history.includes('D') && rm.conn.history.includes('d'));
  t.is(stats.packetsReceived, 8);
});

test('lengths that run past the packet: TCP options, IPv6 extension headers, a long extension chain', async (t) => {
  const w = new PcapWriter();
  const src = '2001:db8::1';
  const dst = '2001:db8::2';
  // A TCP option whose length runs past the header.
  w.add(100, ether(ipv6({ src, dst, payload: tcp({ sport: 40000, dport: 80, seq: 1, flags: 'S', src, dst, options: Buffer.from([2, 40, 5, 180]) }) })));
  // An option of length 0 and 1 (which would loop a naive parser).
  w.add(100.1, ether(ipv6({ src, dst, payload: tcp({ sport: 40001, dport: 80, seq: 1, flags: 'S', src, dst, options: Buffer.from([30, 0, 30, 1]) }) })));
  // A destination-options header claiming more than the packet holds.
  const seg = tcp({ sport: 40002, dport: 80, seq: 1, flags: 'S', src, dst });
  const longExt = ipv6({ src, dst, payload: seg, ext: [{ type: 60 }] });
  longExt[40 + 1] = 200;
  w.add(100.2, ether(longExt));
  // 200 destination-options headers in a row, then TCP.
  w.add(100.3, ether(ipv6({ src, dst, payload: tcp({ sport: 40003, dport: 80, seq: 1, flags: 'S', src, dst }), ext: Array.from({ length: 200 }, () => ({ type: 60 })) })));
  for (const workers of [1, 2]) {
    const { events, stats } = await collectWithStats(w.write(path('lengths.pcap')), { events: 'all', workers });
    t.is(stats.packetsReceived, 4);
    // A header chain cut short ends at the header it cannot read, whose
    // type is no transport: a packet counted as not TCP.
    const counted = Object.values(stats.malformed).reduce((a, b) => a + b, 0) + stats.packetsNonTcp;
    const connections = new Set(named(events, 'new_connection').map((e) => e.id.orig_p));
    // Each packet either made its connection or was counted.
    t.true(connections.size + counted >= 4, JSON.stringify({ connections: [...connections], malformed: stats.malformed }));
    t.true(connections.has(40003), 'the long chain is decoded');
  }
});
