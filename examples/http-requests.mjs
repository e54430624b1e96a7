#!/usr/bin/env node
// An HTTP request-line sniffer: the client side of every port-80
// connection, reassembled (tcp_contents delivers the stream in order, gaps
// aside), split into lines; each request line ("GET /path HTTP/1.1") is
// printed with the connection it came on.
//
//   node examples/http-requests.mjs (-i IFACE | -r FILE) [--port 80]
import { parseArgs } from 'node:util';
import { open } from 'tcpsensor';

const { values: opt } = parseArgs({
  options: { interface: { type: 'string', short: 'i' }, read: { type: 'string', short: 'r' }, port: { type: 'string', default: '80' } },
});
const port = Number(opt.port);

const sensor = open(opt.interface ? { interface: opt.interface } : { file: opt.read }, {
  events: ['tcp_contents', 'connection_state_remove'],
  // Zeek's tcp_content_delivery_ports_orig: the originator's side of
  // connections to these ports.
  contentDeliveryPortsOrig: [port],
});
process.on('SIGINT', () => sensor.stop());

const REQUEST = /^([A-Z]+) (\S+) HTTP\/(\d\.\d)$/;
// Per connection: the bytes of a line not finished yet. The contents
// Buffers view the batch's memory, so keep copies (as strings), not them.
const partial = new Map();
for await (const ev of sensor) {
  if (ev.event === 'connection_state_remove') {
    partial.delete(ev.uid);
    continue;
  }
  const text = (partial.get(ev.uid) ?? '') + ev.contents.toString('latin1');
  const lines = text.split('\r\n');
  partial.set(ev.uid, lines.pop().slice(-8192));
  for (const line of lines) {
    const m = REQUEST.exec(line);
    if (m) console.log(JSON.stringify({ ts: ev.ts, uid: ev.uid, client: ev.id.orig_h, server: `${ev.id.resp_h}:${ev.id.resp_p}`, method: m[1], target: m[2], version: m[3] }));
  }
}
