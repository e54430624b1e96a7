// The examples in examples/ run, each against a trace crafted for it, and
// say what they should.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { PcapWriter, TcpFlow } from './helpers/pcap.mjs';
import { ndjson, root, runCli, scratch } from './helpers/run.mjs';

const example = (name, args) => {
  const r = spawnSync(process.execPath, [join(root, 'examples', name), ...args], { encoding: 'utf8', timeout: 60000 });
  if (r.error) throw r.error;
  return r;
};

// Two finished web conversations, a refused one, an unanswered one.
function webTrace() {
  const w = new PcapWriter();
  const requests = ['GET /index.html HTTP/1.1', 'POST /api/login HTTP/1.0'];
  requests.forEach((line, i) => {
    const f = new TcpFlow({ writer: w, t0: 100 + i, client: `10.0.0.${i + 1}:4000${i}`, server: '10.0.1.1:80' });
    f.handshake();
    // The request line arrives in two segments.
    f.data('c', `${line.slice(0, 7)}`);
    f.data('c', `${line.slice(7)}\r\nHost: example\r\n\r\n`);
    f.data('s', 'HTTP/1.1 200 OK\r\n\r\n');
    f.close();
  });
  const refused = new TcpFlow({ writer: w, t0: 103, client: '10.0.0.7:40007', server: '10.0.1.1:81' });
  refused.syn();
  refused.rst('s', { flags: 'RA' });
  new TcpFlow({ writer: w, t0: 104, client: '10.0.0.8:40008', server: '10.0.1.1:82' }).syn();
  return w.sortByTime().write(scratch('examples-web.pcap'));
}

test('conn-log-live.mjs writes the rows tcpsensor --format conn writes, as NDJSON and as Zeek TSV', async (t) => {
  const file = webTrace();
  const r = example('conn-log-live.mjs', ['-r', file]);
  t.is(r.status, 0, r.stderr);
  const rows = ndjson(r.stdout);
  t.deepEqual(rows, ndjson((await runCli(['-r', file, '--format', 'conn'])).stdout));
  t.deepEqual([...rows].sort((a, b) => a.ts - b.ts).map((x) => x.conn_state), ['SF', 'SF', 'REJ', 'S0']);
  const tsv = example('conn-log-live.mjs', ['-r', file, '--tsv']);
  const lines = tsv.stdout.trim().split('\n');
  const fields = lines.find((l) => l.startsWith('#fields')).split('\t').slice(1);
  const body = lines.filter((l) => !l.startsWith('#'));
  t.is(body.length, 4);
  t.deepEqual(body.map((l) => l.split('\t')[fields.indexOf('conn_state')]).sort(), ['REJ', 'S0', 'SF', 'SF']);
  t.is(example('conn-log-live.mjs', []).status, 2);
});

test('port-scan.mjs reports a host that fails on many ports, once, and not the others', (t) => {
  const w = new PcapWriter();
  // 10.6.6.6 tries 30 ports: half unanswered, half refused.
  for (let i = 0; i < 30; i++) {
    const f = new TcpFlow({ writer: w, t0: 100 + i * 0.1, client: `10.6.6.6:${50000 + i}`, server: `10.0.1.1:${1000 + i}` });
    f.syn();
    if (i % 2) f.rst('s', { flags: 'RA' });
  }
  // A host with two failed tries and one success is no scanner.
  for (let i = 0; i < 3; i++) {
    const f = new TcpFlow({ writer: w, t0: 101 + i, client: `10.0.0.2:${40000 + i}`, server: `10.0.1.1:${80 + i}` });
    f.syn();
    if (i === 0) {
      f.synAck();
      f.ack('c');
      f.close();
    }
  }
  const file = w.sortByTime().write(scratch('examples-scan.pcap'));
  const r = example('port-scan.mjs', ['-r', file, '--ports', '20']);
  t.is(r.status, 0, r.stderr);
  const found = ndjson(r.stdout);
  t.is(found.length, 1);
  t.is(found[0].scanner, '10.6.6.6');
  t.is(found[0].ports, 20);
  t.is(ndjson(example('port-scan.mjs', ['-r', file, '--ports', '31']).stdout).length, 0);
});

test('http-requests.mjs prints each request line, reassembled across segments', (t) => {
  const r = example('http-requests.mjs', ['-r', webTrace()]);
  t.is(r.status, 0, r.stderr);
  const requests = ndjson(r.stdout);
  t.deepEqual(requests.map(({ method, target, version, client, server }) => ({ method, target, version, client, server })), [
    { method: 'GET', target: '/index.html', version: '1.1', client: '10.0.0.1', server: '10.0.1.1:80' },
    { method: 'POST', target: '/api/login', version: '1.0', client: '10.0.0.2', server: '10.0.1.1:80' },
  ]);
});
