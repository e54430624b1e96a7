// Running the sensor and the CLI from tests.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as tcpsensor from '../../dist/index.mjs';

export { tcpsensor };
export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const cliPath = join(root, 'dist', 'cli.js');

let dir;
// A fresh path in this test process's scratch directory, which goes away
// with the process (some traces are tens of megabytes).
export function scratch(name) {
  if (!dir) {
    dir = mkdtempSync(join(tmpdir(), 'tcpsensor-test-'));
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  return join(dir, name);
}

// Every event of a capture file (a path, or a source such as { file, filter }).
export async function collect(file, options = {}) {
  const events = [];
  const source = typeof file === 'string' ? { file } : file;
  for await (const ev of tcpsensor.open(source, options)) events.push(ev);
  return events;
}

// Iterates a sensor to its end; resolves { events, error } where error is
// what the iterator threw (if anything) after the events it delivered.
export async function drain(sensor) {
  const events = [];
  try {
    for await (const ev of sensor) events.push(ev);
  } catch (error) {
    return { events, error };
  }
  return { events, error: undefined };
}

export const named = (events, name) => events.filter((e) => e.event === name);
export const names = (events) => events.map((e) => e.event);

// Runs the CLI; resolves { code, signal, stdout, stderr }.
export function runCli(args, { input, onSpawn, env } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    if (input !== undefined) child.stdin.end(input);
    else child.stdin.end();
    onSpawn?.(child);
  });
}

export const ndjson = (text) => text.split('\n').filter(Boolean).map((l) => JSON.parse(l));

// Every event of a capture file and the sensor's final statistics.
export async function collectWithStats(file, options = {}) {
  const sensor = tcpsensor.open({ file }, options);
  const events = [];
  for await (const ev of sensor) events.push(ev);
  return { events, stats: sensor.stats() };
}

// The one event of a name (fails the test if there is not exactly one).
export function one(t, events, name, pred = () => true) {
  const found = events.filter((e) => e.event === name && pred(e));
  t.is(found.length, 1, `exactly one ${name}`);
  return found[0];
}

// A compact one-line description of an event, for comparing sequences.
export function brief(e) {
  const args = [];
  for (const [k, v] of Object.entries(e)) {
    if (['ts', 'event', 'uid', 'id', 'conn'].includes(k)) continue;
    if (Buffer.isBuffer(v)) args.push(`${k}=${JSON.stringify(v.toString('latin1'))}`);
    else args.push(`${k}=${typeof v === 'object' ? JSON.stringify(v, (_, x) => (x?.type === 'Buffer' ? Buffer.from(x.data).toString('hex') : x)) : v}`);
  }
  return `${e.ts} ${e.event}${args.length ? ' ' + args.join(' ') : ''}`;
}
