// The order of events within one packet (digest §8, TCPSessionAdapter::Process
// and TCPAnalyzer::DeliverPacket): due timers; reuse / creation events; SYN
// weirds and connection_SYN_packet; connection_first_ACK; scaled-history
// threshold events; the state machine's events; the peer's gap / contents /
// EOF from this packet's ack; tcp_packet; tcp_option(s); this packet's
// tcp_contents; the sender's EOF; finished; then tcp_rexmit.
// And conn.log rows (lib/conn-log.ts, Zeek's conn/main.zeek).
import test from 'ava';
import { TcpFlow, tcpOptions } from './helpers/pcap.mjs';
import { collect, named, scratch, tcpsensor } from './helpers/run.mjs';

const flow = (o = {}) => new TcpFlow({ t0: 100, step: 1, ...o });
let n = 0;
const run = (f, options = {}) =>
  collect(f.write(scratch(`order-${++n}.pcap`)), { events: 'all', contentDeliverAllOrig: true, contentDeliverAllResp: true, ...options });
const at = (events, ts) => events.filter((e) => e.ts === ts).map((e) => e.event + (e.name ? `:${e.name}` : '') + (e.is_orig !== undefined ? `:${e.is_orig}` : ''));

test('a SYN-ACK with options: SYN weirds, connection_SYN_packet, connection_established, tcp_packet, tcp_option(s)', async (t) => {
  const f = flow();
  f.syn();
  f.synAck({ flags: 'SAU', options: tcpOptions([{ mss: 1400 }]), payload: 'x' });
  const events = (await run(f)).filter((e) => !['connection_pending', 'connection_state_remove'].includes(e.event));
  t.deepEqual(at(events, 102), [
    'conn_weird:baroque_SYN', 'conn_weird:SYN_with_data', 'connection_SYN_packet', 'connection_established',
    'tcp_packet:false', 'tcp_option:false', 'tcp_options:false', 'tcp_contents:false',
  ]);
});

test('a FIN with data and options that closes the connection: ... tcp_packet, options, contents, EOF, finished', async (t) => {
  const f = flow();
  f.handshake();
  f.fin('s'); // 104
  f.fin('c', { payload: 'bye', options: tcpOptions([{ nop: true }, { nop: true }, { ts: [1, 2] }]) }); // 105
  const events = await run(f);
  t.deepEqual(at(events, 105).filter((e) => !e.startsWith('connection_state_remove') && !e.startsWith('connection_pending')), [
    'tcp_packet:true', 'tcp_option:true', 'tcp_option:true', 'tcp_option:true', 'tcp_options:true',
    'tcp_contents:true', 'connection_EOF:true', 'connection_finished',
  ]);
});

test('the 10th retransmission arriving on an RST: tcp_multiple_retransmissions precedes connection_reset', async (t) => {
  const f = flow();
  f.handshake();
  f.data('c', 'abc');
  for (let i = 0; i < 9; i++) f.packet('c', { flags: 'PA', seq: 1001, payload: 'abc' });
  f.packet('c', { flags: 'RA', seq: 1001, payload: 'abc' }); // data on an RST below last: a retransmission
  const events = await run(f);
  const last = events.at(-1).ts;
  t.deepEqual(at(events, last).slice(0, 4), ['tcp_multiple_retransmissions:true', 'connection_reset', 'tcp_packet:true', 'connection_EOF:true']);
});

test('timer events come before the events of the packet that moves time past them', async (t) => {
  const f = flow();
  f.syn(); // 101
  f.c.seq = 9000;
  f.syn({ at: 110 }); // the attempt timer (106) fires first; then the reuse test finds nothing: a new connection
  const events = await run(f);
  t.deepEqual(at(events, 110).slice(0, 4), ['connection_attempt', 'connection_state_remove', 'new_connection_contents', 'new_connection']);
});

test('conn.log rows: S0 without duration and sizes; SF with them; REJ', async (t) => {
  const log = new tcpsensor.ConnLog();
  const rows = [];
  const f = flow();
  f.syn(); // S0, a single packet: duration 0
  const g = flow({ writer: f.writer, client: '10.0.0.3:40001', t0: 101 });
  g.handshake();
  g.data('c', 'hello');
  g.data('s', 'hi');
  g.close();
  const h = flow({ writer: f.writer, client: '10.0.0.4:40002', t0: 110 });
  h.syn();
  h.packet('s', { flags: 'RA', seq: 0, ack: 1001 });
  for (const e of await run(f, { events: [...tcpsensor.CONN_LOG_EVENTS] })) {
    const row = log.add(e);
    if (row) rows.push(row);
  }
  const byHost = Object.fromEntries(rows.map(({ uid, ...r }) => [r['id.orig_h'], r]));
  t.deepEqual(byHost['10.0.0.1'], {
    ts: 101, 'id.orig_h': '10.0.0.1', 'id.orig_p': 40000, 'id.resp_h': '10.0.0.2', 'id.resp_p': 80, proto: 'tcp',
    conn_state: 'S0', missed_bytes: 0, history: 'S', orig_pkts: 1, orig_ip_bytes: 40, resp_pkts: 0, resp_ip_bytes: 0,
  });
  t.deepEqual(byHost['10.0.0.3'], {
    ts: 102, 'id.orig_h': '10.0.0.3', 'id.orig_p': 40001, 'id.resp_h': '10.0.0.2', 'id.resp_p': 80, proto: 'tcp',
    duration: 6, orig_bytes: 5, resp_bytes: 2, conn_state: 'SF', missed_bytes: 0, history: 'ShADdFf',
    orig_pkts: 5, orig_ip_bytes: 205, resp_pkts: 3, resp_ip_bytes: 122,
  });
  t.is(byHost['10.0.0.4'].conn_state, 'REJ');
  t.is(byHost['10.0.0.4'].history, 'Sr');
});
