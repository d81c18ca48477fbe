#!/usr/bin/env node
// npm's install step for ctscope (package.json "install").
//
// From a clone there is nothing to do: scripts/setup.sh builds everything with
// make (npm start, npm test, npm run build). From the package, the prebuilt
// addon should load as it is — no compiler involved. Only when it does not fit
// this machine (another architecture, an older glibc) is the addon built here,
// node-gyp-build's "prebuild if it fits, local build otherwise", against this
// Node's own headers (never downloaded). If that fails too, the install still
// succeeds: replay and top need no addon, and run/doctor say what is missing.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const say = (s) => process.stderr.write(`ctscope install: ${s}\n`);

if (fs.existsSync(path.join(root, 'Makefile'))) process.exit(0); // a clone: make builds it

function loads() {
  // In a child, so a library that fails to load cannot take this process down.
  const code = `require(require('node-gyp-build').resolve(${JSON.stringify(root)}))`;
  const r = spawnSync(process.execPath, ['-e', code], { cwd: root, encoding: 'utf8' });
  return r.status === 0 ? null : (r.stderr.split('\n').find((l) => /Error/.test(l)) ?? `exit ${r.status}`).trim();
}

const why = loads();
if (why === null) process.exit(0);
say(`the prebuilt addon does not load here (${why}); building it from source`);

const nodedir = path.resolve(process.execPath, '../..');
const gyp = process.env.npm_config_node_gyp ?? path.join(path.dirname(require.resolve('npm/package.json', { paths: [nodedir + '/lib/node_modules'] })), 'node_modules/node-gyp/bin/node-gyp.js');
if (!fs.existsSync(path.join(nodedir, 'include/node/node_api.h'))) {
  say(`no Node headers in ${nodedir}/include/node: cannot build the addon; 'ctscope replay' and 'ctscope top' work, 'run' and 'doctor' need the addon`);
  process.exit(0);
}
const r = spawnSync(process.execPath, [gyp, 'rebuild', `--nodedir=${nodedir}`, '--loglevel=error'], { cwd: root, stdio: 'inherit' });
if (r.status !== 0) {
  say("building the addon failed (it needs g++, make, python3, libbpf-dev, libelf-dev, zlib1g-dev); 'ctscope replay' and 'ctscope top' work, 'run' and 'doctor' need the addon");
}
process.exit(0);
