#!/usr/bin/env node
// A port-scan detector: a host that tries many ports and gets nowhere is
// scanning. Zeek's connection_attempt (a SYN never answered) and
// connection_rejected (answered by a RST) are exactly the failed tries.
//
//   node examples/port-scan.mjs (-i IFACE | -r FILE) [--ports 20] [--window 300]
//
// Prints one JSON line per scanner when it crosses --ports distinct
// destination ports (any host) within --window seconds of network time.
import { parseArgs } from 'node:util';
import { open } from 'tcpsensor';

const { values: opt } = parseArgs({
  options: {
    interface: { type: 'string', short: 'i' },
    read: { type: 'string', short: 'r' },
    ports: { type: 'string', default: '20' },
    window: { type: 'string', default: '300' },
  },
});
const threshold = Number(opt.ports);
const window = Number(opt.window);

const sensor = open(opt.interface ? { interface: opt.interface } : { file: opt.read }, {
  events: ['connection_attempt', 'connection_rejected'],
});
process.on('SIGINT', () => sensor.stop());

// Per scanning host: the failed tries in the window, oldest first.
const tries = new Map();
const reported = new Set();
for await (const ev of sensor) {
  const host = ev.id.orig_h;
  const list = tries.get(host) ?? [];
  list.push({ ts: ev.ts, port: ev.id.resp_p });
  while (list.length && list[0].ts < ev.ts - window) list.shift();
  tries.set(host, list);
  const ports = new Set(list.map((x) => x.port));
  if (ports.size >= threshold && !reported.has(host)) {
    reported.add(host);
    console.log(JSON.stringify({ ts: ev.ts, scanner: host, ports: ports.size, window, last: ev.event }));
  }
}
