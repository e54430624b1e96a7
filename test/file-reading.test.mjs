// Reading classic pcap files through tcpsensor's own reader, which reads
// the file ahead in chunks of a few MiB in a thread of its own and hands
// records out in place: records falling across chunk boundaries, and
// libpcap's rules for captured lengths and time stamps (which Zeek reads
// files by, and which read a file that is not a regular one: standard
// input, a FIFO).
import test from 'ava';
import { writeFileSync } from 'node:fs';
import { PcapWriter, TcpFlow } from './helpers/pcap.mjs';
import { collect, drain, named, ndjson, runCli, scratch, tcpsensor } from './helpers/run.mjs';

const PACKETS = 4000; // about 6 MB of 1,400-byte segments: several chunks
const MAX_CAPLEN = 262144; // libpcap's ceiling for Ethernet

// One long transfer; the records listed in `pad` get link-layer trailing
// bytes up to `padTo` captured bytes (decoding ignores what follows the IP
// packet), so that some records are as large as a record can be.
function transfer(name, { pad = [], padTo = MAX_CAPLEN, snaplen = MAX_CAPLEN } = {}) {
  const writer = new PcapWriter({ snaplen });
  const f = new TcpFlow({ writer, t0: 10, step: 0.001 });
  f.handshake();
  const payload = Buffer.alloc(1400, 0x5a);
  for (let i = 0; i < PACKETS; i++) f.data(i % 2 ? 's' : 'c', payload);
  f.close();
  for (const i of pad) {
    // Two buffers (header, frame) per record; data starts after the handshake.
    const at = 2 * (3 + i);
    const frame = writer.records[at + 1];
    const padded = Buffer.concat([frame, Buffer.alloc(padTo - frame.length, 0xee)]);
    writer.records[at].writeUInt32LE(padded.length, 8);
    writer.records[at].writeUInt32LE(padded.length, 12);
    writer.records[at + 1] = padded;
  }
  return writer.write(scratch(name));
}

test('records across chunk boundaries, the largest ones included, are all read in order', async (t) => {
  const plain = await collect(transfer('plain.pcap'), { events: 'all' });
  // Largest records at and around where the 2 MiB chunks end, two in a row.
  const padded = await collect(transfer('padded.pcap', { pad: [10, 1000, 1001, 2500, 3999] }), { events: 'all' });
  t.is(named(plain, 'tcp_packet').length, PACKETS + 6);
  t.deepEqual(padded, plain);
  const [remove] = named(padded, 'connection_state_remove');
  t.is(remove.conn.orig.num_pkts + remove.conn.resp.num_pkts, PACKETS + 6);
});

test('a record captured beyond the file\'s snapshot length is cut to it, as libpcap does', async (t) => {
  // The same packets, once stored whole in a file claiming a 200-byte
  // snapshot length, once stored cut to 200 bytes.
  const writer = new PcapWriter({ snaplen: 200 });
  const f = new TcpFlow({ writer, t0: 10 });
  f.handshake();
  f.data('c', Buffer.alloc(1000, 0x41));
  f.close();
  const whole = writer.write(scratch('beyond-snaplen.pcap'));
  const cut = scratch('cut-to-snaplen.pcap');
  writeFileSync(cut, Buffer.concat([writer.toBuffer().subarray(0, 24), ...recordsCut(writer)]));
  const a = await collect(whole, { events: 'all' });
  t.deepEqual(a, await collect(cut, { events: 'all' }));
  t.is(named(a, 'tcp_packet').length, 7);
  t.true(a.some((e) => e.event === 'tcp_packet' && e.len === 1000 && e.payload.length === 200 - 54));
});

// The records of `writer`, each frame cut to the writer's snapshot length.
function recordsCut(writer) {
  const out = [];
  for (let i = 0; i < writer.records.length; i += 2) {
    const h = Buffer.from(writer.records[i]);
    const frame = writer.records[i + 1];
    const kept = frame.subarray(0, Math.min(frame.length, writer.snaplen));
    h.writeUInt32LE(kept.length, 8);
    out.push(h, kept);
  }
  return out;
}

test('a record captured beyond libpcap\'s maximum is ERR_PCAP_READ, after the events before it', async (t) => {
  const big = transfer('too-big.pcap', { pad: [2000], padTo: MAX_CAPLEN + 1, snaplen: 1 << 20 });
  const { events, error } = await drain(tcpsensor.open({ file: big }, { events: 'all' }));
  t.is(error?.code, 'ERR_PCAP_READ');
  t.regex(error.message, /262145/);
  // Everything up to the bad record: the handshake and 2,000 segments.
  t.is(named(events, 'tcp_packet').length, 3 + 2000);
});

// The CLI's output for a capture read as a regular file (tcpsensor's own
// reader) and from standard input (libpcap alone): they must agree.
async function bothReaders(t, buffer, name) {
  const path = scratch(name);
  writeFileSync(path, buffer);
  const fromFile = await runCli(['-r', path, '--events', 'all']);
  const fromStdin = await runCli(['-r', '-', '--events', 'all'], { input: buffer });
  t.is(fromFile.code, 0, fromFile.stderr);
  t.is(fromStdin.code, 0, fromStdin.stderr);
  t.is(fromFile.stdout, fromStdin.stdout);
  return ndjson(fromFile.stdout);
}

// A little-endian classic pcap file written big-endian.
function bigEndian(le) {
  const be = Buffer.from(le);
  be.writeUInt32BE(le.readUInt32LE(0), 0);
  be.writeUInt16BE(le.readUInt16LE(4), 4);
  be.writeUInt16BE(le.readUInt16LE(6), 6);
  for (const at of [8, 12, 16, 20]) be.writeUInt32BE(le.readUInt32LE(at), at);
  for (let at = 24; at < le.length; at += 16 + le.readUInt32LE(at + 8)) {
    for (let k = 0; k < 16; k += 4) be.writeUInt32BE(le.readUInt32LE(at + k), at + k);
  }
  return be;
}

// Fuzzed files showed the two readers apart (fuzz-capture-file): libpcap
// reads the time stamp fields of a file in the machine's byte order as
// signed 32-bit numbers, those of a byte-swapped file as unsigned ones.
test('time stamps are read as libpcap reads them: past 2038 is before 1970, unless the file is byte-swapped', async (t) => {
  const writer = new PcapWriter();
  const f = new TcpFlow({ writer, t0: 2 ** 31 + 100, step: 0.5 });
  f.handshake();
  f.close();
  // And a microsecond fraction past 2^31 on the last packet.
  writer.records[writer.records.length - 2].writeUInt32LE(2 ** 31 + 5, 4);
  const events = await bothReaders(t, writer.toBuffer(), 'y2038.pcap');
  // The first packet, half a second in. (Network time never goes back, so
  // it stays at its start of 1 and these connections are long inactive.)
  t.is(named(events, 'new_connection')[0].conn.start_time, 100.5 - 2 ** 31);
  t.is(events[0].ts, 1);
  const swapped = await bothReaders(t, bigEndian(writer.toBuffer()), 'y2038-be.pcap');
  t.is(named(swapped, 'new_connection')[0].conn.start_time, 2 ** 31 + 100.5);
  // The last packet's fraction adds 2^31 + 5 microseconds: 2147.483653 s later.
  t.is(named(swapped, 'new_connection')[1].conn.start_time, 2 ** 31 + 103 + 2147.483653);
});

test('records of pcap files before version 2.4 have captured and wire lengths swapped, as libpcap reads them', async (t) => {
  // The same exchange, its data segment captured in part, written as a
  // 2.4 file and as a 2.2 file (wire length first in every record).
  const writer = new PcapWriter();
  const f = new TcpFlow({ writer, t0: 10 });
  f.handshake();
  f.data('c', Buffer.alloc(300, 0x41), { caplen: 100 });
  f.close();
  const current = writer.toBuffer();
  const old = Buffer.from(current);
  old.writeUInt16LE(2, 6);
  for (let at = 24; at < old.length; ) {
    const caplen = current.readUInt32LE(at + 8);
    old.writeUInt32LE(current.readUInt32LE(at + 12), at + 8);
    old.writeUInt32LE(caplen, at + 12);
    at += 16 + caplen;
  }
  const events = await bothReaders(t, old, 'v2.2.pcap');
  t.deepEqual(events, await bothReaders(t, current, 'v2.4.pcap'));
  t.true(events.some((e) => e.event === 'tcp_packet' && e.len === 300));
});
