#!/usr/bin/env node
// npm run conformance [-- --min 0.99 --only tcp/ --conn --workers N ...]
// Runs Zeek's conformance corpus (../shared/conformance) against our CLI
// and prints the agreement table. `--workers N` runs the CLI with N
// workers; other arguments go to the corpus runner.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const corpus = process.env.TCPSENSOR_CONFORMANCE ?? resolve(root, '..', 'shared', 'conformance');
const runner = join(corpus, 'run.mjs');
if (!existsSync(runner)) {
  console.log(`conformance: no corpus at ${corpus}; skipped`);
  process.exit(0);
}
const cli = join(root, 'dist', 'cli.js');
const args = process.argv.slice(2);
const w = args.indexOf('--workers');
const workers = w >= 0 ? args.splice(w, 2)[1] : undefined;
const cmd = `${process.execPath} ${cli}${workers ? ` --workers ${workers}` : ''}`;
const r = spawnSync(process.execPath, [runner, '--cmd', cmd, ...args], {
  stdio: 'inherit',
});
process.exit(r.status ?? 1);
