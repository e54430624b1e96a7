// ESM and CommonJS: `require('tcpsensor')` and `import 'tcpsensor'`
// (through the package's exports map, by self-reference) and the dist
// entry points directly all give one and the same API.
import test from 'ava';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { TcpFlow } from './helpers/pcap.mjs';
import { root, scratch } from './helpers/run.mjs';

const require = createRequire(import.meta.url);

const API = ['open', 'Sensor', 'TcpsensorError', 'EVENT_KINDS', 'EVENT_NAMES', 'TUNABLES', 'parseZeekSetting', 'ConnLog', 'connState', 'CONN_LOG_EVENTS'];
const namedExports = (m) => Object.keys(m).filter((k) => k !== 'default' && k !== '__esModule').sort();

const esmEntry = pathToFileURL(join(root, 'dist', 'index.mjs')).href;

test('the package name resolves to dist/index.js for require and dist/index.mjs for import', async (t) => {
  t.is(require.resolve('tcpsensor'), join(root, 'dist', 'index.js'));
  // The same module record gives the same namespace object.
  t.is(await import('tcpsensor'), await import(esmEntry));
});

test('require and import expose the same names, bound to the same objects', async (t) => {
  const cjs = require('tcpsensor');
  const esm = await import('tcpsensor');
  for (const name of API) {
    t.is(typeof cjs[name], typeof esm[name], name);
    t.not(cjs[name], undefined, name);
  }
  t.deepEqual(namedExports(esm), namedExports(cjs));
  // One module instance: no dual-package hazard (one TcpsensorError class,
  // one addon).
  for (const name of namedExports(cjs)) t.is(esm[name], cjs[name], name);
  t.is(esm.default, cjs);
  t.is(require(join(root, 'dist', 'index.js')), cjs);
  t.is((await import(esmEntry)).open, cjs.open);
});

test('both load the addon and read a capture the same way', async (t) => {
  const file = new TcpFlow({ t0: 5 }).handshake().close().write(scratch('formats.pcap'));
  const cjs = require('tcpsensor');
  const esm = await import('tcpsensor');
  const read = async (api) => {
    const out = [];
    for await (const ev of api.open({ file })) out.push(`${ev.event} ${ev.uid}`);
    return out;
  };
  const a = await read(cjs);
  t.true(a.length > 0);
  t.deepEqual(await read(esm), a);
  // An error from one is an instance of the other's class.
  const err = t.throws(() => esm.open({ file: scratch('missing.pcap') }));
  t.true(err instanceof cjs.TcpsensorError);
});
