#!/usr/bin/env node
// A conn.log writer for a live interface: one row per finished TCP
// connection, in Zeek's conn.log columns, as the connections end.
//
//   node examples/conn-log-live.mjs -i eth0 [--tsv] > conn.log   (root, or CAP_NET_RAW)
//   node examples/conn-log-live.mjs -r trace.pcap [--tsv]        (a capture file works the same)
//
// Ctrl-C ends the capture the way Zeek ends: the connections still open
// are flushed (and get their rows) before it exits.
import { parseArgs } from 'node:util';
import { open, ConnLog, CONN_LOG_EVENTS } from 'tcpsensor';
import { tsvFooter, tsvHeader, tsvRow } from './conn-log-tsv.mjs';

const { values: opt } = parseArgs({
  options: { interface: { type: 'string', short: 'i' }, read: { type: 'string', short: 'r' }, tsv: { type: 'boolean' } },
});
if (!opt.interface === !opt.read) {
  console.error('usage: conn-log-live.mjs (-i IFACE | -r FILE) [--tsv]');
  process.exit(2);
}

// Only the events conn.log needs: the connection record at removal, and
// content gaps for missed_bytes.
const sensor = open(opt.interface ? { interface: opt.interface } : { file: opt.read }, { events: [...CONN_LOG_EVENTS] });
process.on('SIGINT', () => sensor.stop());
process.on('SIGTERM', () => sensor.stop());

if (opt.tsv) process.stdout.write(tsvHeader());

const log = new ConnLog();
for await (const ev of sensor) {
  const row = log.add(ev);
  if (!row) continue;
  process.stdout.write(opt.tsv ? tsvRow(row) : JSON.stringify(row) + '\n');
}
if (opt.tsv) process.stdout.write(tsvFooter());
