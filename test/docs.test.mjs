// Every exported name of the package is documented: TypeDoc, set to treat
// an undocumented export (or property, member, function) as an error, must
// find nothing to complain of. `npm run docs` writes the reference.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { root } from './helpers/run.mjs';

test('every exported name has a doc comment (TypeDoc, warnings as errors)', (t) => {
  const r = spawnSync(process.execPath, [join(root, 'node_modules', 'typedoc', 'bin', 'typedoc'), '--emit', 'none'], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
  });
  const warnings = `${r.stdout}${r.stderr}`.split('\n').filter((l) => /\[(warning|error)\]/.test(l));
  t.is(r.status, 0, warnings.join('\n'));
  t.deepEqual(warnings, []);
});

test('the README lists every event, and shows the CLI help as it is', async (t) => {
  const { readFileSync } = await import('node:fs');
  const { EVENT_NAMES, TUNABLES } = await import('../dist/index.mjs');
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  for (const name of EVENT_NAMES) t.regex(readme, new RegExp(`^\\| \`${name}\` \\|`, 'm'), name);
  for (const { option } of TUNABLES) t.true(readme.includes(`\`${option}\``), option);
  const help = spawnSync(process.execPath, [join(root, 'dist', 'cli.js'), '--help'], { encoding: 'utf8' }).stdout;
  t.true(readme.includes('```\n' + help + '```'), 'the README shows `tcpsensor --help` verbatim');
  // Users have the repository, nothing beside it.
  t.false(/\.\.\/shared/.test(readme));
});
