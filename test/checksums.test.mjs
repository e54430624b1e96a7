// Checksums (digest §1; PT TCPAnalyzer::ValidateChecksum, IP analyzer).
// A bad TCP checksum: weird bad_TCP_checksum and a scaled C/c, then the
// packet is dropped completely (no state, no last_time, no tcp_packet, not
// counted). Creation, flip and reuse run before the check. ignoreChecksums
// (-C) processes it. A bad IPv4 header checksum makes no connection at all.
import test from 'ava';
import { TcpFlow, PcapWriter, ether, ipv4, tcp } from './helpers/pcap.mjs';
import { collect, collectWithStats, named, one, scratch } from './helpers/run.mjs';

const flow = (o = {}) => new TcpFlow({ t0: 100, step: 1, ...o });
let n = 0;
const path = () => scratch(`cksum-${++n}.pcap`);
const opts = { events: 'all', contentDeliverAllOrig: true, contentDeliverAllResp: true };

test('a bad-checksum data packet leaves only a C; with ignoreChecksums it is processed', async (t) => {
  const f = flow();
  f.handshake();
  f.packet('c', { flags: 'PA', payload: 'hello', checksum: 0xbeef }); // 104
  f.packet('s', { flags: 'A', ack: 1001 }); // 105
  const file = f.write(path());
  const events = await collect(file, opts);
  const rm = one(t, events, 'connection_state_remove');
  t.is(rm.conn.history, 'ShACa');
  t.is(named(events, 'tcp_contents').length, 0);
  t.is(named(events, 'tcp_packet').length, 4);
  t.deepEqual(rm.conn.orig, { size: 0, state: 4, num_pkts: 2, num_bytes_ip: 80 });
  // Not even last_time: duration ends at the server's ACK (105 - 101) ...
  t.is(rm.conn.duration, 4);
  t.deepEqual(named(events, 'conn_weird').map((e) => `${e.ts} ${e.name}`), ['104 bad_TCP_checksum']);

  const ok = await collect(file, { ...opts, ignoreChecksums: true });
  const rm2 = one(t, ok, 'connection_state_remove');
  t.is(rm2.conn.history, 'ShADa');
  t.deepEqual(rm2.conn.orig, { size: 5, state: 4, num_pkts: 3, num_bytes_ip: 125 });
  t.deepEqual(named(ok, 'tcp_contents').map((e) => e.contents.toString()), ['hello']);
  t.is(named(ok, 'conn_weird').length, 0);
});

test('a bad-checksum packet does not extend duration', async (t) => {
  const f = flow();
  f.handshake(); // 101-103
  f.packet('c', { flags: 'A', checksum: 1, at: 150 });
  const events = await collect(f.write(path()), opts);
  t.is(one(t, events, 'connection_state_remove').conn.duration, 2);
  // ... but it moves network time: the event ts is 150.
  t.is(one(t, events, 'connection_state_remove').ts, 150);
});

test('a bad-checksum SYN still runs the reuse test before it is dropped', async (t) => {
  // A SYN after close with a bad checksum: reuse happens (new connection
  // with history C), since IsReuse runs before the checksum.
  const f = flow();
  f.handshake();
  f.close(); // 104-106
  f.packet('c', { flags: 'S', seq: 7000, checksum: 1 }); // 107
  const events = await collect(f.write(path()), opts);
  t.is(named(events, 'connection_reused').length, 1);
  const [, second] = named(events, 'connection_state_remove');
  t.is(second.conn.history, 'C');
  t.is(second.conn.orig.state, 0);
});

test('ignoreChecksums: a bad-checksum SYN creates a normal connection', async (t) => {
  const f = flow();
  f.syn({ checksum: 0 });
  f.synAck({ checksum: 0 });
  const events = await collect(f.write(path()), { ...opts, ignoreChecksums: true });
  t.is(one(t, events, 'connection_established').conn.history, 'Sh');
});

test('IPv6: the TCP checksum covers the IPv6 pseudo-header', async (t) => {
  const f = flow({ client: '[2001:db8::1]:40000', server: '[2001:db8::2]:80' });
  f.handshake();
  f.packet('c', { flags: 'PA', payload: 'abc', checksum: 0x1111 });
  f.data('c', 'xyz');
  const events = await collect(f.write(path()), opts);
  t.is(one(t, events, 'connection_state_remove').conn.history, 'ShACD');
  t.deepEqual(named(events, 'tcp_contents').map((e) => e.contents.toString()), ['xyz']);
});

test('a bad IPv4 header checksum: no connection (counted as bad_IP_checksum); ignoreChecksums accepts it', async (t) => {
  const w = new PcapWriter();
  const seg = tcp({ sport: 40000, dport: 80, seq: 1000, flags: 'S', src: '10.0.0.1', dst: '10.0.0.2' });
  w.add(101, ether(ipv4({ src: '10.0.0.1', dst: '10.0.0.2', payload: seg, checksum: 0x1234 })));
  const file = w.write(path());
  const { events, stats } = await collectWithStats(file, opts);
  t.is(events.length, 0);
  t.is(stats.malformed.bad_IP_checksum, 1);
  const ok = await collect(file, { ...opts, ignoreChecksums: true });
  t.is(named(ok, 'new_connection').length, 1);
});
