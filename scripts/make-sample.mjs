#!/usr/bin/env node
// Writes samples/sample.pcap, the small trace the README's first command
// prints: a clean HTTP-like exchange, a rejected SYN, an unanswered SYN,
// an exchange over IPv6 and one whose server segments arrive out of order.
// Crafted with the test helpers, so it is reproducible byte for byte.
import { mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PcapWriter, TcpFlow } from '../test/helpers/pcap.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const w = new PcapWriter();

const web = new TcpFlow({ writer: w, client: '192.168.1.10:51000', server: '93.184.216.34:80', t0: 1700000000, step: 0.02 });
web.handshake();
web.data('c', 'GET / HTTP/1.1\r\nHost: example.com\r\n\r\n');
web.data('s', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello');
web.close();

const rejected = new TcpFlow({ writer: w, client: '192.168.1.10:51001', server: '192.168.1.20:22', t0: 1700000000.2 });
rejected.syn();
rejected.packet('s', { flags: 'RA', seq: 0 });

const unanswered = new TcpFlow({ writer: w, client: '192.168.1.10:51002', server: '10.9.9.9:443', t0: 1700000000.3 });
unanswered.syn();

const v6 = new TcpFlow({ writer: w, client: '[2001:db8::10]:52000', server: '[2001:db8::80]:8080', t0: 1700000000.4 });
v6.handshake();
v6.data('c', 'ping');
v6.data('s', 'pong');
v6.close();

// The server's second segment overtakes its first.
const ooo = new TcpFlow({ writer: w, client: '192.168.1.10:51003', server: '93.184.216.34:80', t0: 1700000000.6 });
ooo.handshake();
ooo.data('c', 'GET /two HTTP/1.1\r\n\r\n');
const first = ooo.s.seq;
ooo.packet('s', { flags: 'PA', seq: first + 7, payload: Buffer.from('World!') });
ooo.packet('s', { flags: 'PA', seq: first, payload: Buffer.from('Hello, ') });
ooo.s.seq = first + 13;
ooo.ack('c');
ooo.close();

// Entries must be in time order.
w.records = w.records.reduce((pairs, r, i, all) => (i % 2 ? pairs : [...pairs, [all[i], all[i + 1]]]), [])
  .sort((a, b) => a[0].readUInt32LE(0) - b[0].readUInt32LE(0) || a[0].readUInt32LE(4) - b[0].readUInt32LE(4))
  .flat();

mkdirSync(join(root, 'samples'), { recursive: true });
w.write(join(root, 'samples', 'sample.pcap'));
console.log('wrote samples/sample.pcap');
