#!/usr/bin/env node
// One conn.log from every sensor: reads the conn.log rows that sensors
// publish into a JetStream stream (tcpsensor --format conn --output
// nats://...) and writes them to stdout, as NDJSON (the rows as published)
// or as Zeek's TSV (--tsv).
//
//   node examples/conn-log.mjs [--server nats://127.0.0.1:4222] [--stream TCPSENSOR]
//                              [--prefix tcpsensor] [--tsv] [--follow] > conn.log
//
// Without --follow it stops once it has read what the stream held when it
// started; with it, it keeps writing rows as they come until Ctrl-C.
import { parseArgs } from 'node:util';
import { connect } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';

const { values: opt } = parseArgs({
  options: {
    server: { type: 'string', default: 'nats://127.0.0.1:4222' },
    stream: { type: 'string', default: 'TCPSENSOR' },
    prefix: { type: 'string', default: 'tcpsensor' },
    tsv: { type: 'boolean', default: false },
    follow: { type: 'boolean', default: false },
  },
});

// Zeek's conn.log columns that tcpsensor's rows carry, with Zeek's types.
const FIELDS = [
  ['ts', 'time'], ['uid', 'string'], ['id.orig_h', 'addr'], ['id.orig_p', 'port'], ['id.resp_h', 'addr'], ['id.resp_p', 'port'],
  ['proto', 'enum'], ['duration', 'interval'], ['orig_bytes', 'count'], ['resp_bytes', 'count'], ['conn_state', 'string'],
  ['missed_bytes', 'count'], ['history', 'string'], ['orig_pkts', 'count'], ['orig_ip_bytes', 'count'], ['resp_pkts', 'count'],
  ['resp_ip_bytes', 'count'],
];

// #open and #close as Zeek writes them (local time): 2026-12-06-03-05-38.
function zeekTime(d = new Date()) {
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}-${p(d.getHours())}-${p(d.getMinutes())}-${p(d.getSeconds())}`;
}

function tsvHeader() {
  return [
    '#separator \\x09',
    '#set_separator\t,',
    '#empty_field\t(empty)',
    '#unset_field\t-',
    '#path\tconn',
    `#open\t${zeekTime()}`,
    `#fields\t${FIELDS.map(([f]) => f).join('\t')}`,
    `#types\t${FIELDS.map(([, t]) => t).join('\t')}`,
  ].join('\n') + '\n';
}

// Zeek writes times and intervals with microseconds; a column a row lacks is '-'.
function tsvRow(row) {
  return FIELDS.map(([f, type]) => {
    const v = row[f];
    if (v === undefined) return '-';
    return type === 'time' || type === 'interval' ? v.toFixed(6) : String(v);
  }).join('\t') + '\n';
}

const nc = await connect({ servers: opt.server.split(',') });
const js = jetstream(nc);
// An ordered consumer: ephemeral, from the first message, and the client
// re-creates it if the server loses it. `*` in the subject is every sensor.
const consumer = await js.consumers.get(opt.stream, { filter_subjects: `${opt.prefix}.*.conn` });
const { num_pending: waiting } = await consumer.info();

const out = process.stdout;
// A reader that went away (`| head`) ends us quietly.
out.on('error', (err) => process.exit(err.code === 'EPIPE' ? 0 : 1));
if (opt.tsv) out.write(tsvHeader());
if (waiting > 0 || opt.follow) {
  const messages = await consumer.consume();
  process.on('SIGINT', () => messages.stop());
  for await (const m of messages) {
    // The payload is the row exactly as the sensor rendered it.
    const line = m.string();
    const ok = out.write(opt.tsv ? tsvRow(JSON.parse(line)) : `${line}\n`);
    if (!ok) await new Promise((resolve) => out.once('drain', resolve));
    // info.pending: how many matching messages the stream has after this one.
    if (!opt.follow && m.info.pending === 0) break;
  }
}
if (opt.tsv) out.write(`#close\t${zeekTime()}\n`);
await nc.close();
