// Issue 14: the hardened systemd unit (share/systemd/ctscope.service) runs the
// daemon as `ctscope` with exactly the documented capabilities, and
// `systemd-analyze security` rates it as docs/SECURITY.md says. (Its
// `systemd-analyze verify` runs after a real `dpkg -i`, in
// test/kernel/deb.test.ts, where /usr/bin/ctscope exists.)
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DAEMON_CAPABILITIES, DAEMON_NEEDS } from '../../src/privileges.js';
import { unitDirectives } from '../helpers/systemd-unit.js';
import { cannotRun, command } from '../helpers/requires.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const unitFile = path.join(root, 'share/systemd/ctscope.service');
const unit = unitDirectives(fs.readFileSync(unitFile, 'utf8'));
const security = fs.readFileSync(path.join(root, 'docs/SECURITY.md'), 'utf8');
const noAnalyze = cannotRun(command('systemd-analyze', 'systemd'));

describe('the systemd unit', () => {
  it('runs as the ctscope user with exactly the documented capabilities, and no more for its children', () => {
    expect(unit.User).toBe('ctscope');
    expect(unit.AmbientCapabilities!.split(/\s+/)).toEqual([...DAEMON_CAPABILITIES]);
    expect(unit.CapabilityBoundingSet!.split(/\s+/)).toEqual([...DAEMON_CAPABILITIES]);
    expect(unit.NoNewPrivileges).toBe('yes');
  });

  it.each([
    ['ProtectSystem', 'strict'],
    ['ProtectHome', 'yes'],
    ['PrivateTmp', 'yes'],
    ['PrivateDevices', 'yes'],
    ['ProtectKernelModules', 'yes'],
    ['ProtectKernelTunables', 'yes'],
    ['ProtectControlGroups', 'yes'],
    ['RestrictAddressFamilies', 'AF_NETLINK AF_UNIX AF_INET AF_INET6'],
    ['RestrictNamespaces', 'net'],
    ['SystemCallFilter', '@system-service bpf perf_event_open'],
    ['RuntimeDirectory', 'ctscope'],
  ])('%s=%s', (k, v) => expect(unit[k]).toBe(v));

  it('leaves /proc whole: the daemon reads other processes\' /proc/PID/ns/net', () => {
    expect(unit.ProtectProc ?? 'default').toBe('default');
    expect(unit.ProcSubset ?? 'all').toBe('all');
  });

  it.skipIf(noAnalyze)('has the exposure score docs/SECURITY.md gives (systemd-analyze security)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctscope-unit-'));
    try {
      fs.copyFileSync(unitFile, path.join(dir, 'ctscope.service'));
      const r = spawnSync('systemd-analyze', ['security', '--offline=yes', path.join(dir, 'ctscope.service')], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const score = /Overall exposure level for ctscope\.service: (\d+\.\d+) (\w+)/.exec(r.stdout);
      expect(score, r.stdout).not.toBeNull();
      expect(security).toContain(`rates it **${score![1]} ${score![2]}**`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('docs/SECURITY.md', () => {
  it('lists each capability of the daemon with what it is for and what is lost without it, as doctor says', () => {
    const rows = security.split('\n').filter((l) => /^\| `CAP_/.test(l));
    expect(rows.map((r) => /^\| `(CAP_\w+)`/.exec(r)![1])).toEqual([...DAEMON_CAPABILITIES]);
    for (const n of DAEMON_NEEDS) {
      const row = rows.find((r) => r.startsWith(`| \`${n.capability}\``))!;
      expect(row).toBe(`| \`${n.capability}\` | ${n.for} | ${n.without} |`);
    }
  });
});
