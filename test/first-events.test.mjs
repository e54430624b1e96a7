import test from 'ava';
import { TcpFlow } from './helpers/pcap.mjs';
import { collect, named, names, scratch } from './helpers/run.mjs';

test('a clean handshake, data and close raises the first set with exact fields', async (t) => {
  const f = new TcpFlow({ client: '10.1.0.1:40000', server: '10.1.0.2:80', isn: 1000, serverIsn: 5000, t0: 100, step: 0.5 });
  f.handshake();
  f.data('c', 'hello');
  f.data('s', 'world!');
  f.close();
  const file = f.write(scratch('clean.pcap'));
  const events = await collect(file, {
    events: ['new_connection', 'connection_SYN_packet', 'connection_established', 'connection_state_remove', 'tcp_packet'],
  });
  t.deepEqual(names(events).filter((n) => n !== 'tcp_packet'), [
    'new_connection', 'connection_SYN_packet', 'connection_SYN_packet', 'connection_established', 'connection_state_remove',
  ]);
  const [nc] = named(events, 'new_connection');
  t.is(nc.ts, 100.5);
  t.deepEqual(nc.id, { orig_h: '10.1.0.1', orig_p: 40000, resp_h: '10.1.0.2', resp_p: 80 });
  t.regex(nc.uid, /^C[0-9A-Za-z]+$/);
  t.deepEqual(nc.conn.orig, { size: 0, state: 1, num_pkts: 0, num_bytes_ip: 0 });

  const [sync, syns] = named(events, 'connection_SYN_packet');
  t.deepEqual(sync.pkt, { is_orig: true, DF: true, ttl: 64, size: 40, win_size: 65535, win_scale: -1, MSS: 0, SACK_OK: false });
  t.false(syns.pkt.is_orig);

  const [est] = named(events, 'connection_established');
  t.is(est.ts, 101);
  t.is(est.conn.history, 'Sh');
  t.is(est.conn.orig.state, 4);
  t.is(est.conn.resp.state, 4);

  const packets = named(events, 'tcp_packet');
  t.is(packets.length, 8);
  t.deepEqual(packets.map((p) => p.flags), ['S', 'SA', 'A', 'AP', 'AP', 'FA', 'FA', 'A']);
  t.deepEqual(packets.map((p) => p.seq), [0, 0, 1, 1, 1, 6, 7, 7]);
  t.is(packets[3].payload.toString(), 'hello');
  t.is(packets[3].len, 5);

  const [rm] = named(events, 'connection_state_remove');
  // The server never sends a bare ACK, so no 'a'.
  t.is(rm.conn.history, 'ShADdFf');
  t.deepEqual(rm.conn.orig, { size: 5, state: 5, num_pkts: 5, num_bytes_ip: 205 });
  t.deepEqual(rm.conn.resp, { size: 6, state: 5, num_pkts: 3, num_bytes_ip: 126 });
  t.is(rm.conn.start_time, 100.5);
  // The ACK after both FINs does not extend the connection (Zeek's LastTime rule).
  t.is(rm.conn.duration, 3);
  t.is(rm.uid, nc.uid);
});
