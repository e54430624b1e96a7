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

const COLUMNS = ['ts', 'uid', 'id.orig_h', 'id.orig_p', 'id.resp_h', 'id.resp_p', 'proto', 'duration', 'orig_bytes', 'resp_bytes',
  'conn_state', 'missed_bytes', 'history', 'orig_pkts', 'orig_ip_bytes', 'resp_pkts', 'resp_ip_bytes'];
if (opt.tsv) process.stdout.write(`#separator \\x09\n#path\tconn\n#fields\t${COLUMNS.join('\t')}\n`);

const log = new ConnLog();
for await (const ev of sensor) {
  const row = log.add(ev);
  if (!row) continue;
  // Zeek's TSV writes '-' for a field it has no value for.
  process.stdout.write(opt.tsv ? COLUMNS.map((c) => row[c] ?? '-').join('\t') + '\n' : JSON.stringify(row) + '\n');
}
