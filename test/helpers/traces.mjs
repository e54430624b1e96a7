// Larger traces for the API tests: many overlapping connections, built
// from TcpFlow conversations and merged in time order, with a record of
// where each connection's packets fall in the file.
import { LINKTYPE, PcapWriter, TcpFlow, ether } from './pcap.mjs';

// Collects a flow's packets instead of writing them, so several flows can
// be interleaved by time afterwards.
class Recorder {
  constructor() {
    this.packets = [];
  }

  add(ts, frame, opts = {}) {
    this.packets.push({ ts, frame, opts });
    return this;
  }
}

// Positions in a manyConnections() conversation (indexes into `at`).
export const PACKET = { SYN: 0, SYN_ACK: 1, ACK: 2, REQUEST: 3, REPLY: 4, CLIENT_FIN: 5, SERVER_FIN: 6, LAST_ACK: 7 };

// The connection's 4-tuple as the events' `id` shows it.
export const tupleKey = (id) => `${id.orig_h}:${id.orig_p}>${id.resp_h}:${id.resp_p}`;

// `connections` client→server conversations (handshake, one request, one
// reply, FIN both ways, last ACK: 8 packets each). A new connection starts
// every `spacing` seconds and its packets are `step` apart, so about
// 8 * step / spacing connections are open at any time. Every connection has
// its own client address and port.
//
// Returns { writer, packets, connections: [{ key, at }] } where `at` lists
// the file positions (packet indexes) of the connection's 8 packets, in
// conversation order: SYN, SYN-ACK, ACK, request, reply, client FIN,
// server FIN, last ACK.
export function manyConnections({ connections, spacing = 0.0001, step = 0.001, t0 = 1000, server = '10.200.0.1:80', writer } = {}) {
  const all = [];
  const info = [];
  for (let i = 0; i < connections; i++) {
    const rec = new Recorder();
    const client = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    const port = 1024 + (i % 64000);
    const f = new TcpFlow({ writer: rec, client: `${client}:${port}`, server, t0: +(t0 + i * spacing).toFixed(6), step });
    f.handshake();
    f.data('c', `request ${i}`);
    f.data('s', `reply ${i}`);
    f.close();
    const [serverAddr, serverPort] = server.split(':');
    info.push({ key: tupleKey({ orig_h: client, orig_p: port, resp_h: serverAddr, resp_p: Number(serverPort) }), at: [] });
    rec.packets.forEach((p, n) => all.push({ ...p, conn: i, n }));
  }
  // Time order; ties keep generation order (Array#sort is stable).
  all.sort((a, b) => a.ts - b.ts);
  const w = writer ?? new PcapWriter();
  all.forEach((p, index) => {
    w.add(p.ts, p.frame, p.opts);
    info[p.conn].at[p.n] = index;
  });
  return { writer: w, packets: all.length, connections: info };
}

// A trace of at least `packets` packets (8 per connection).
export function bigTrace(packets, options = {}) {
  return manyConnections({ connections: Math.ceil(packets / 8), ...options });
}

// An unanswered SYN (10.5.0.1:40000 → 10.5.0.2:80) at t=100, and beside it
// an established connection whose client sends a segment (acked by the
// server) at 100.25, 100.75, 101.25, ... up to `until`: network time passes
// in half-second steps, so a timer due at T is seen to expire at the first
// of those times after T.
export function attemptTrace({ until = 108 } = {}) {
  const w = new PcapWriter();
  const lonely = new TcpFlow({ writer: w, client: '10.5.0.1:40000', server: '10.5.0.2:80' });
  lonely.syn({ at: 100 });
  const busy = new TcpFlow({ writer: w, client: '10.5.0.3:40001', server: '10.5.0.4:22', t0: 100.01, step: 0.01 });
  busy.handshake();
  for (let at = 100.25; at <= until; at += 0.5) {
    busy.data('c', 'x', { at });
    busy.ack('s', { at: at + 0.001 });
  }
  return w;
}

// One complete exchange (handshake with an MSS option, a request, a reply,
// both FINs): 8 packets, each put into a frame by `link` (Ethernet by
// default, or a tunnel around the IP packet).
export function exchange({ linktype = LINKTYPE.ETHERNET, link = ether, ends = { client: '10.0.0.1:40000', server: '10.0.0.2:80' }, ipOptions = {}, nanoseconds = false, t0 = 100 } = {}) {
  const f = new TcpFlow({ ...ends, t0, step: 0.25, writer: new PcapWriter({ linktype, nanoseconds }), link, ipOptions });
  f.syn({ options: Buffer.from([2, 4, 5, 180]) });
  f.synAck();
  f.ack('c');
  f.data('c', 'GET / HTTP/1.0\r\n\r\n');
  f.data('s', 'HTTP/1.0 200 OK\r\n\r\nbody');
  f.close();
  return f;
}

// Events without their uids and with byte arguments as hex: comparable
// across traces that make the same connections.
export const comparable = (events) =>
  events.map(({ uid, ...e }) => JSON.parse(JSON.stringify(e, (k, v) => (v?.type === 'Buffer' ? Buffer.from(v.data).toString('hex') : v))));
