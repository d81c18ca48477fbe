// Runs fuzz cases in a worker thread (see pool.mjs), against dist/: the
// replay command as the CLI runs it (its exit code and what it prints on
// standard error), then — when the input replays — every GET route of the
// API served over the result, which must not answer 500.

import { parentPort } from 'node:worker_threads';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const dist = (m) => import(path.join(root, 'dist', m));
const { replayCommand } = await dist('cli/commands/replay.js');
const { failureOf } = await dist('cli/main.js');
const { startReplay } = await dist('app/serve-replay.js');
const { declaredRoutes } = await dist('api/validation.js');

async function serveProblems(files) {
  const logged = [];
  const logStream = new Writable({ write: (c, _e, done) => (logged.push(String(c)), done()) });
  let r;
  try {
    r = await startReplay(files, { speed: Infinity, api: { logStream } });
  } catch {
    return []; // nothing to serve: the command said why
  }
  const problems = [];
  try {
    await r.feed.done.catch(() => undefined); // a replay that fails says so in its status
    const app = r.ctscope.app;
    for (const route of declaredRoutes(app)) {
      if (route.method !== 'GET') continue;
      // an event stream (server-sent events) never ends by itself: inject()
      // would wait for it forever; its own tests cover it (test/unit/events.test.ts)
      if (route.url === '/v1/events') continue;
      const url = route.url.replace(/:\w+/g, '1');
      const res = await app.inject(url);
      // 503 is a state worded for the operator ("no reading of the table yet"); 500 is a bug
      if (res.statusCode >= 500 && res.statusCode !== 503) problems.push(`${url} answered ${res.statusCode}: ${logged.join('').slice(0, 2000)}`);
    }
  } finally {
    await r.ctscope.stop();
  }
  return problems;
}

parentPort.on('message', async ({ id, argv, serve }) => {
  const t0 = performance.now();
  let out = '';
  let err = '';
  let code;
  try {
    code = await replayCommand(argv.slice(1), { out: (s) => (out += s.length > 4096 ? s.slice(0, 4096) : s), err: (s) => (err += s) });
  } catch (e) {
    const f = failureOf(e, 'replay');
    code = f.code;
    err += f.text;
  }
  let serveErrs = [];
  if (serve && code === 0) {
    try {
      serveErrs = await serveProblems(argv.filter((a, i) => i > 0 && !a.startsWith('-') && argv[i - 1] !== '--report' && argv[i - 1] !== '--what-if' && argv[i - 1] !== '--limit'));
    } catch (e) {
      serveErrs = [`serving the replay threw: ${e?.stack ?? e}`];
    }
  }
  parentPort.postMessage({ id, code, err, outBytes: out.length, ms: performance.now() - t0, serve: serveErrs });
});
parentPort.postMessage({ ready: true });
