// A network namespace joined to the root namespace by a veth pair, with a
// TCP server inside it: real traffic for live-capture tests. Needs root
// and iproute2 (`ip`).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';

const ip = (...args) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] });

// Why live tests cannot run here, or null if they can. Probes by creating
// (and removing) a namespace, the one privilege they all need.
export function whyNoLiveCapture() {
  if (process.getuid?.() !== 0) return 'live capture and network namespaces need root';
  const version = spawnSync('ip', ['-V'], { encoding: 'utf8' });
  if (version.error) return 'the ip command (Debian package iproute2) is not installed';
  const probe = `tcpsensor-probe-${process.pid}`;
  const add = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (add.status !== 0) return `cannot create a network namespace: ${add.stderr.trim()}`;
  spawnSync('ip', ['netns', 'del', probe]);
  return null;
}

let made = 0;

// A veth pair in the root namespace, left down; removed in t.teardown.
export function vethDown(t) {
  const n = made++;
  const host = `tsv${process.pid % 1000000}${n}a`;
  t.teardown(() => spawnSync('ip', ['link', 'del', host]));
  ip('link', 'add', host, 'type', 'veth', 'peer', 'name', `tsv${process.pid % 1000000}${n}b`);
  return host;
}

// Creates the namespace, the veth pair and the server; removes them all
// in t.teardown. The server (in the namespace, at `serverAddr`:`port`)
// answers each chunk it receives with 'pong:' and the chunk, and closes
// when its client does.
//
// Addresses come from 198.18.0.0/15 (RFC 2544, for benchmarks), one /24
// per pair, chosen by pid so that concurrent runs do not collide.
export async function vethWithServer(t, { port = 8080, mtu } = {}) {
  const n = made++;
  const index = (process.pid * 4 + n) % 512;
  const prefix = `198.${18 + (index >> 8)}.${index & 255}`;
  const name = `tcpsensor-${process.pid}-${n}`;
  const host = `tsv${process.pid % 1000000}${n}a`;
  const peer = `tsv${process.pid % 1000000}${n}b`;
  const env = { ns: name, iface: host, peer, hostAddr: `${prefix}.1`, serverAddr: `${prefix}.2`, port };

  let server;
  t.teardown(async () => {
    if (server && server.exitCode === null) {
      server.kill();
      await once(server, 'exit');
    }
    // Deleting the namespace deletes the peer, and with it the pair; the
    // explicit delete keeps the host side from lingering meanwhile.
    spawnSync('ip', ['link', 'del', host]);
    spawnSync('ip', ['netns', 'del', name]);
  });

  ip('netns', 'add', name);
  ip('link', 'add', host, 'type', 'veth', 'peer', 'name', peer);
  if (mtu) {
    ip('link', 'set', host, 'mtu', String(mtu));
    ip('link', 'set', peer, 'mtu', String(mtu));
  }
  ip('link', 'set', peer, 'netns', name);
  ip('addr', 'add', `${env.hostAddr}/24`, 'dev', host);
  ip('link', 'set', host, 'up');
  ip('-n', name, 'addr', 'add', `${env.serverAddr}/24`, 'dev', peer);
  ip('-n', name, 'link', 'set', peer, 'up');
  ip('-n', name, 'link', 'set', 'lo', 'up');

  const code = `
    const server = require('net').createServer((c) => {
      c.on('data', (d) => c.write('pong:' + d));
      c.on('end', () => c.end());
      c.on('error', () => {});
    });
    server.listen(${port}, '${env.serverAddr}', () => console.log('listening'));`;
  server = spawn('ip', ['netns', 'exec', name, process.execPath, '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [ready] = await Promise.race([once(server.stdout, 'data'), once(server, 'exit').then(() => [Buffer.from('exited')])]);
  if (!String(ready).includes('listening')) throw new Error('the server in the namespace did not start');
  return env;
}

// A client connection from the root namespace: resolves once it has sent
// `message` and read the server's reply. `end()` closes it (FIN both ways).
export async function talk(env, message = 'ping') {
  const socket = net.connect({ host: env.serverAddr, port: env.port, localAddress: env.hostAddr });
  socket.on('error', () => {});
  await once(socket, 'connect');
  socket.write(message);
  await once(socket, 'data');
  return {
    socket,
    localPort: socket.localPort,
    end: async () => {
      socket.end();
      socket.resume();
      await once(socket, 'close');
    },
  };
}

// Resolves when check() is true, polling; rejects after `ms`.
export async function until(check, ms = 5000, what = 'condition') {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

// `count` complete conversations (connect, one exchange, close), `parallel`
// at a time; resolves with their client ports once all have closed.
export async function conversations(env, count, { parallel = 8, message = 'hello' } = {}) {
  const ports = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const c = await talk(env, `${message} ${i}`);
      ports.push(c.localPort);
      await c.end();
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, count) }, worker));
  return ports;
}

// Runs `command` inside the namespace; resolves with its output, rejects
// with its stderr if it fails.
export function inNamespace(env, command, args) {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', env.ns, command, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${command} exited ${code}: ${err.trim()}`))));
  });
}
