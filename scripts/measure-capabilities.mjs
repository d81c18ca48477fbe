#!/usr/bin/env node
// Measures which Linux capabilities each ctscope feature needs on the running
// kernel: `ctscope doctor --json` (real program loads and attaches, a
// ctnetlink socket, setns, another user's /proc/PID/ns/net) run as an
// unprivileged user (65534) holding only a given set of capabilities
// (setpriv: ambient, inheritable and bounding sets alike), for the daemon's
// documented set, that set minus each capability in turn, and the smallest
// sets per feature. Prints a markdown table (docs/SECURITY.md holds the
// measured tables of this machine and of the Debian 6.1 guest:
// `node scripts/guest/run.mjs --snapshot -- node scripts/measure-capabilities.mjs`).
//   node scripts/measure-capabilities.mjs [--json]
// Needs root (to hand out capabilities) and the built addon.

import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { withCapabilities } from './lib/setpriv.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { DAEMON_CAPABILITIES } = await import(path.join(root, 'dist/privileges.js'));

const sets = [
  { name: 'the daemon set', caps: [...DAEMON_CAPABILITIES] },
  ...DAEMON_CAPABILITIES.map((c) => ({ name: `set − ${c}`, caps: DAEMON_CAPABILITIES.filter((x) => x !== c) })),
  { name: 'BPF + PERFMON', caps: ['CAP_BPF', 'CAP_PERFMON'] },
  { name: 'BPF + NET_ADMIN', caps: ['CAP_BPF', 'CAP_NET_ADMIN'] },
  { name: 'NET_ADMIN', caps: ['CAP_NET_ADMIN'] },
  { name: 'SYS_ADMIN', caps: ['CAP_SYS_ADMIN'] },
  { name: 'none', caps: [] },
  { name: 'the daemon set, RLIMIT_MEMLOCK 0', caps: [...DAEMON_CAPABILITIES], memlock0: true },
];

function doctorAs(set) {
  const argv = withCapabilities(set.caps, [process.execPath, path.join(root, 'bin/ctscope.js'), 'doctor', '--json'], { memlock0: set.memlock0 });
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) return { error: (r.stderr || `exit ${r.status}`).trim().split('\n').pop() };
  return JSON.parse(r.stdout);
}

const cell = (ok, text) => (ok ? `✓ ${text}` : `✗ ${text}`);
function row(set, d) {
  if (d.error) return { set: set.name, error: d.error };
  const cap = (n) => d.capabilities.find((c) => c.capability === n);
  const trial = (w) => d.privileges.trials.find((t) => t.what === w);
  const first = (c) => c.tried.find((t) => t.hook !== 'ctnetlink' && t.hook !== 'none');
  const life = cap('alloc');
  // The hook the lifecycle got; with ctnetlink, why the first eBPF candidate was refused.
  const lifeText = life.chosen && life.chosen !== 'ctnetlink' ? `✓ ${life.chosen}` : `${life.chosen ?? 'none'} (${first(life)?.hook}: ${first(life)?.result.split(' (')[0] ?? '?'})`;
  const drops = cap('drops');
  const ingress = cap('ingress');
  const t = (w) => {
    const x = trial(w);
    return x ? cell(x.ok, x.ok ? 'ok' : (x.result.match(/(Operation not permitted|Permission denied)/)?.[1] ?? x.result)) : 'n/a';
  };
  return {
    set: set.name,
    drops: cell(!!drops.chosen, drops.chosen ?? drops.tried[0].result.split(' (')[0]),
    lifecycle: lifeText,
    ingress: cell(!!ingress.chosen, ingress.chosen ? 'program loads' : ingress.tried.at(-1).result.split(' (')[0].replace(/\/\S*\//g, '')),
    ctnetlink: t('ctnetlink'),
    namespaces: t('namespaces'),
    otherUsers: t('other users'),
    memlock: trial('memlock')?.result.split(':')[0] ?? 'n/a',
  };
}

const rows = sets.map((s) => row(s, doctorAs(s)));
if (process.argv.includes('--json')) {
  process.stdout.write(`${JSON.stringify({ kernel: os.release(), rows }, null, 2)}\n`);
} else {
  const cols = ['set', 'drops', 'lifecycle', 'ingress', 'ctnetlink', 'namespaces', 'otherUsers', 'memlock'];
  const head = ['capabilities (as uid 65534)', 'drops (tp_btf)', 'lifecycle hooks (alloc)', 'ingress program', 'ctnetlink', 'setns', "other users' /proc/PID/ns/net", 'memlock'];
  console.log(`Kernel ${os.release()}\n`);
  console.log(`| ${head.join(' | ')} |`);
  console.log(`|${head.map(() => '---').join('|')}|`);
  for (const r of rows) console.log(`| ${r.error ? `${r.set} | error: ${r.error}` : cols.map((c) => r[c]).join(' | ')} |`);
}
