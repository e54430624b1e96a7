// Reads a capture through the package's API and prints, as one JSON line,
// what a run on another architecture must reproduce: the count of each
// event, a digest of every event (arguments and bytes included), and which
// compiled addon the process actually loaded.
//
//   node scripts/event-summary.mjs samples/sample.pcap
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { open } from '../dist/index.mjs';

const require = createRequire(import.meta.url);
const file = process.argv[2] ?? new URL('../samples/sample.pcap', import.meta.url).pathname;

const counts = {};
const hash = createHash('sha256');
let events = 0;
const sensor = open({ file }, { events: 'all', contentDeliverAllOrig: true, contentDeliverAllResp: true });
for await (const ev of sensor) {
  events++;
  counts[ev.event] = (counts[ev.event] ?? 0) + 1;
  hash.update(JSON.stringify(ev, (_, v) => (typeof v === 'bigint' ? `${v}n` : v)) + '\n');
}
// node-gyp-build loads the addon with require(), so the .node file that
// really loaded is in require's cache.
const addon = Object.keys(require.cache).filter((k) => k.endsWith('.node'));
console.log(JSON.stringify({
  arch: process.arch,
  node: process.version,
  addon,
  packets: sensor.stats().packetsReceived,
  events,
  digest: hash.digest('hex').slice(0, 16),
  counts: Object.fromEntries(Object.entries(counts).sort()),
}));
