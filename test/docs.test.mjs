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
