#!/usr/bin/env node
/**
 * The comparison point: node_pcap (the `pcap` npm package, installed into
 * bench/node_modules by bench/run.mjs) reading a capture file, decoding
 * every packet in JavaScript and feeding its TCPTracker, the way its README
 * shows. Listens to the tracker's session events (start, end, data) so the
 * work a user would ask for is done. Prints one JSON line.
 *
 *   node bench/node-pcap-tracker.cjs FILE
 */
'use strict';
const pcap = require('pcap');

const file = process.argv[2];
const t0 = performance.now();
const session = pcap.createOfflineSession(file, { filter: '' });
const tracker = new pcap.TCPTracker();
let packets = 0;
let sessions = 0;
let starts = 0;
let ends = 0;
let data = 0;
let retransmits = 0;

tracker.on('session', (s) => {
  sessions++;
  s.on('start', () => starts++);
  s.on('end', () => ends++);
  s.on('data send', () => data++);
  s.on('data recv', () => data++);
  s.on('retransmit', () => retransmits++);
});
session.on('packet', (raw) => {
  packets++;
  tracker.track_packet(pcap.decode.packet(raw));
});
session.on('complete', () => {
  const seconds = (performance.now() - t0) / 1000;
  const events = sessions + starts + ends + data + retransmits;
  process.stdout.write(
    JSON.stringify({
      packets,
      seconds,
      packetsPerSecond: packets / seconds,
      sessions,
      starts,
      ends,
      data,
      retransmits,
      events,
      maxRssKB: process.resourceUsage().maxRSS,
    }) + '\n',
  );
});
