#!/usr/bin/env node
// One conn.log from every sensor: reads the conn.log rows that sensors
// publish into a JetStream stream (tcpsensor --format conn --output
// nats://...) and writes them to stdout, as NDJSON (the rows as published)
// or as Zeek's TSV (--tsv).
//
//   node examples/nats-conn-log.mjs [--server nats://127.0.0.1:4222] [--stream TCPSENSOR]
//                                   [--prefix tcpsensor] [--tsv] [--follow] > conn.log
//
// Without --follow it stops once it has read what the stream held when it
// started; with it, it keeps writing rows as they come until Ctrl-C.
import { parseArgs } from 'node:util';
import { connect } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { tsvFooter, tsvHeader, tsvRow } from './conn-log-tsv.mjs';

const { values: opt } = parseArgs({
  options: {
    server: { type: 'string', default: 'nats://127.0.0.1:4222' },
    stream: { type: 'string', default: 'TCPSENSOR' },
    prefix: { type: 'string', default: 'tcpsensor' },
    tsv: { type: 'boolean', default: false },
    follow: { type: 'boolean', default: false },
  },
});

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
if (opt.tsv) out.write(tsvFooter());
await nc.close();
