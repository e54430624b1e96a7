#!/usr/bin/env node
// npm run conformance [-- --min 0.99 --only tcp/ --conn ...]
// Runs Zeek's conformance corpus (../shared/conformance) against our CLI
// and prints the agreement table. Extra arguments go to the corpus runner.
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
const r = spawnSync(process.execPath, [runner, '--cmd', `${process.execPath} ${cli}`, ...process.argv.slice(2)], {
  stdio: 'inherit',
});
process.exit(r.status ?? 1);
