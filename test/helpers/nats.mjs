// A real nats-server with JetStream for the tests: on 127.0.0.1, a port
// of its own choosing, a store directory of its own; killed and removed in
// t.teardown. `restart()` brings it back on the same port and store.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';

// Why the NATS tests cannot run here, or null if they can.
export function whyNoNatsServer() {
  const r = spawnSync('nats-server', ['--version'], { encoding: 'utf8' });
  if (r.error) return 'nats-server is not installed (Debian package nats-server)';
  return null;
}

// Starts the server (port -1: one of its choosing); resolves with
// { child, port } once it accepts clients. Generous deadline: a busy
// 2-core machine can take seconds to start a Go binary. (bench/run.mjs
// uses it too.)
export function launchNatsServer(port, storeDir) {
  const child = spawn('nats-server', ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', storeDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`nats-server did not start within 60 s:\n${log}`));
    }, 60_000);
    const onData = (d) => {
      log += d;
      const m = /Listening for client connections on [\d.]+:(\d+)[\s\S]*Server is ready/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]) });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`nats-server exited (${signal ?? code}) before it was ready:\n${log}`));
    });
  });
}

export async function startNatsServer(t) {
  const storeDir = mkdtempSync(join(tmpdir(), 'tcpsensor-nats-'));
  let current = await launchNatsServer(-1, storeDir);
  const server = {
    port: current.port,
    url: `nats://127.0.0.1:${current.port}`,
    storeDir,
    get pid() {
      return current.child.pid;
    },
    // Kills it (SIGKILL: no chance to flush anything) and waits for the exit.
    async kill(signal = 'SIGKILL') {
      const { child } = current;
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill(signal);
      await exited;
    },
    async restart() {
      await server.kill();
      current = await launchNatsServer(server.port, storeDir);
    },
  };
  t.teardown(async () => {
    await server.kill();
    rmSync(storeDir, { recursive: true, force: true });
  });
  return server;
}

// A port nothing listens on (one the kernel just handed out and took back).
export async function closedPort() {
  const net = await import('node:net');
  const s = net.createServer();
  await new Promise((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address();
  await new Promise((resolve) => s.close(resolve));
  return port;
}

// Every message of `stream` (matching `filter`), in stream order:
// [{ subject, data (string), msgId, seq }].
export async function readStream(url, stream, filter = '>') {
  const nc = await connect({ servers: url });
  try {
    const js = jetstream(nc);
    const consumer = await js.consumers.get(stream, { filter_subjects: filter });
    const { num_pending: expected } = await consumer.info();
    const out = [];
    if (expected > 0) {
      const messages = await consumer.consume();
      for await (const m of messages) {
        out.push({ subject: m.subject, data: m.string(), msgId: m.headers?.get('Nats-Msg-Id'), seq: m.seq });
        if (out.length === expected) break;
      }
    }
    return out;
  } finally {
    await nc.close();
  }
}

async function withManager(url, fn) {
  const nc = await connect({ servers: url });
  try {
    return await fn(await jetstreamManager(nc));
  } finally {
    await nc.close();
  }
}

// The stream's state (messages, bytes, first and last sequence) and configuration.
export const streamInfo = (url, stream) => withManager(url, (jsm) => jsm.streams.info(stream));

// Creates a stream as an operator would, ahead of the sensors.
export const addStream = (url, config) => withManager(url, (jsm) => jsm.streams.add(config));
