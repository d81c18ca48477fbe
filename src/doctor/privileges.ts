// `ctscope doctor`'s privilege section: which of the daemon's capabilities
// this process holds, what each missing one costs (src/privileges.ts), and
// real trials of the privileged operations that are not BPF programs (those
// are tried by the hook probes): a ctnetlink socket bound to the event groups,
// entering a network namespace, opening another user's /proc/PID/ns/net.

import fs from 'node:fs';
import os from 'node:os';

import { loadAddon } from '../native/addon.js';
import { capabilityReport, effectiveCapabilities, explainPermission, type CapabilityName } from '../privileges.js';

export interface PrivilegeTrial {
  what: 'ctnetlink' | 'namespaces' | 'other users' | 'memlock';
  ok: boolean;
  result: string;
}

export interface PrivilegeReport {
  uid: number;
  /** Effective capabilities among those ctscope knows (src/privileges.ts). */
  capabilities: CapabilityName[];
  needs: ReturnType<typeof capabilityReport>;
  trials: PrivilegeTrial[];
}

const MiB = 1 << 20;

function trial(what: PrivilegeTrial['what'], fn: () => string): PrivilegeTrial {
  try {
    return { what, ok: true, result: fn() };
  } catch (e) {
    return { what, ok: false, result: explainPermission((e as Error).message.split('\n')[0] ?? String(e)) };
  }
}

/** A process of another user than ours (not PID 1, not a kernel thread), or null. */
function otherUsersProcess(uid: number): number | null {
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || name === '1' || Number(name) === process.pid) continue;
    try {
      const status = fs.readFileSync(`/proc/${name}/status`, 'utf8');
      const owner = Number(/^Uid:\s+\d+\s+(\d+)/m.exec(status)?.[1]);
      const kthread = /^PPid:\s+[02]$/m.test(status) && name !== '1';
      if (!kthread && owner !== uid) return Number(name);
    } catch {
      /* exited */
    }
  }
  return null;
}

/** RLIMIT_MEMLOCK from /proc/self/limits ('unlimited' as Infinity), or null. */
function memlockLimit(): number | null {
  try {
    const m = /^Max locked memory\s+(\S+)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
    return m ? (m[1] === 'unlimited' ? Infinity : Number(m[1])) : null;
  } catch {
    return null;
  }
}

/** Linux >= 5.11 charges BPF maps to the memory cgroup instead of RLIMIT_MEMLOCK (commit 97306be45fbe). */
export function kernelChargesBpfToCgroup(release = os.release()): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release);
  return !!m && (Number(m[1]) > 5 || (Number(m[1]) === 5 && Number(m[2]) >= 11));
}

export function collectPrivileges(addonOk: boolean): PrivilegeReport {
  const held = effectiveCapabilities();
  const uid = process.geteuid?.() ?? -1;
  const trials: PrivilegeTrial[] = [];
  if (addonOk) {
    const addon = loadAddon();
    trials.push(
      trial('ctnetlink', () => {
        const reader = new addon.NetlinkSource({ onBatch: () => undefined, dumpAtStart: false });
        try {
          reader.start();
          const rcvbuf = reader.stats().rcvbuf;
          return `events and dumps in this namespace (receive buffer ${Math.round(rcvbuf / MiB)} MiB)`;
        } finally {
          reader.stop();
        }
      }),
    );
    // setns() into our own namespace needs the same privilege as into any other, and changes nothing.
    trials.push(
      trial('namespaces', () => {
        addon.readInNetns('/proc/self/ns/net', []);
        return 'can enter network namespaces (setns)';
      }),
    );
  }
  const other = otherUsersProcess(uid);
  trials.push(
    other === null
      ? { what: 'other users', ok: true, result: 'not checked: no process of another user' }
      : trial('other users', () => {
          try {
            fs.closeSync(fs.openSync(`/proc/${other}/ns/net`, 'r'));
          } catch (e) {
            throw new Error(`open /proc/${other}/ns/net: ${(e as NodeJS.ErrnoException).code === 'EACCES' ? 'Permission denied' : (e as Error).message}`);
          }
          return `can open other users' /proc/PID/ns/net (tried pid ${other})`;
        }),
  );
  const limit = memlockLimit();
  const charged = kernelChargesBpfToCgroup();
  trials.push({
    what: 'memlock',
    ok: charged || limit === Infinity || held.has('CAP_SYS_RESOURCE') || (limit !== null && limit >= 64 * MiB),
    result: charged
      ? `not needed: this kernel charges BPF memory to the cgroup (RLIMIT_MEMLOCK ${limit === Infinity ? 'unlimited' : `${limit} bytes`})`
      : limit === Infinity || held.has('CAP_SYS_RESOURCE')
        ? 'kernel < 5.11 counts BPF maps against RLIMIT_MEMLOCK: unlimited here'
        : `kernel < 5.11 counts BPF maps against RLIMIT_MEMLOCK (${limit} bytes here): raise it (LimitMEMLOCK=infinity) or give CAP_SYS_RESOURCE`,
  });
  return { uid, capabilities: [...held], needs: capabilityReport(held), trials };
}

export function formatPrivileges(p: PrivilegeReport): string[] {
  const lines = [`${'privileges'.padEnd(14)}uid ${p.uid}; ${p.capabilities.length ? p.capabilities.join(' ') : 'no capabilities'}`];
  for (const n of p.needs) {
    const state = n.held ? 'held' : n.missing === null ? `missing, covered by ${(n as { covered_by?: string }).covered_by}` : `MISSING: ${n.missing}`;
    lines.push(`  ${n.capability.padEnd(16)}${state}`);
  }
  for (const t of p.trials) lines.push(`${t.what.padEnd(14)}${t.ok ? '' : 'REFUSED: '}${t.result}`);
  return lines;
}
