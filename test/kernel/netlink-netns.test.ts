// Issue 4: namespaces are followed as they come and go — a named one
// (ip netns add/del, seen through inotify on /run/netns) and an unnamed one
// held only by a process (/proc/PID/ns/net, as container runtimes leave them).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kernelTier } from '../helpers/lab.js';
import { NetlinkSource } from '../../src/sources/netlink.js';
import type { RecordColumns } from '../../src/records/batch.js';
import { Cause, Kind } from '../../src/records/layout.js';
import { exited, holdKernelLock, until } from './netlink-lab.js';
import { cannotRun } from '../helpers/requires.js';

const tier = kernelTier();
const skip = cannotRun(tier);

const NAMED = 'ctnln-late';
const FLOWS = 7;

function sh(...args: string[]): string {
  return execFileSync(args[0]!, args.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

class PerNetns {
  readonly kinds = new Map<number, Map<number, number>>(); // netns -> kind -> n
  readonly syncCause = new Map<number, number[]>();
  ingest(c: RecordColumns): void {
    for (let i = 0; i < c.length; i++) {
      const ns = c.netns[i]!;
      const m = this.kinds.get(ns) ?? new Map<number, number>();
      m.set(c.kind[i]!, (m.get(c.kind[i]!) ?? 0) + 1);
      this.kinds.set(ns, m);
      if (c.kind[i] === Kind.SYNC) this.syncCause.set(ns, [...(this.syncCause.get(ns) ?? []), c.cause[i]!]);
    }
  }
  count(ns: number, kind: number): number {
    return this.kinds.get(ns)?.get(kind) ?? 0;
  }
}

describe.skipIf(skip)('netlink source: namespaces come and go', () => {
  let release: () => void = () => undefined;
  let source: NetlinkSource;
  const sink = new PerNetns();
  let holder: ChildProcess | undefined;

  beforeAll(async () => {
    release = await holdKernelLock();
    if (fs.existsSync(`/run/netns/${NAMED}`)) sh('ip', 'netns', 'del', NAMED);
    source = new NetlinkSource({
      // Only what this test creates: the machine has other engineers' labs.
      include: (ns) => ns.name === NAMED || (holder?.pid !== undefined && ns.name === `pid:${holder.pid}`),
      // Opt-in (a flag in the CLI): only namespaces this test creates are followed.
      enableAccounting: true,
    });
    await source.start(sink);
  });

  afterAll(async () => {
    await source?.stop();
    holder?.kill('SIGKILL');
    if (fs.existsSync(`/run/netns/${NAMED}`)) sh('ip', 'netns', 'del', NAMED);
    release();
  });

  it('follows a named namespace created after start, then drops it when deleted', async () => {
    expect(source.status().namespaces).toEqual([]);
    sh('ip', 'netns', 'add', NAMED);
    const inode = fs.statSync(`/run/netns/${NAMED}`).ino;
    const followMs = await until(() => source.status().namespaces.some((n) => n.inode === inode), 3000, 'the new namespace');
    console.info(`named namespace followed after ${followMs} ms`);
    expect(followMs).toBeLessThan(1000);
    const ns = source.status().namespaces.find((n) => n.inode === inode)!;
    expect(ns).toMatchObject({ name: NAMED, path: `/run/netns/${NAMED}`, state: 'running', accounting: { acct: true, timestamp: true } });
    expect(sh('ip', 'netns', 'exec', NAMED, 'sysctl', '-n', 'net.netfilter.nf_conntrack_acct').trim()).toBe('1');

    // Its records carry its inode.
    sh('ip', 'netns', 'exec', NAMED, 'ip', 'link', 'set', 'lo', 'up');
    execFileSync('ip', ['netns', 'exec', NAMED, 'nft', '-f', '-'], {
      input: 'table inet t {\n chain o {\n type filter hook output priority 0;\n ct state new counter\n }\n}\n',
    });
    await until(() => sink.count(inode, Kind.SYNC) > 0, 3000, 'its dump at start');
    try {
      sh('ip', 'netns', 'exec', NAMED, 'hping3', '--udp', '-q', '-s', '40000', '-p', '9', '-c', String(FLOWS), '-i', 'u1000', '127.0.0.1');
    } catch {
      /* exit 1: no answers */
    }
    await until(() => sink.count(inode, Kind.ALLOC) >= FLOWS, 3000, 'its allocations');
    await new Promise((r) => setTimeout(r, 200));
    expect(sink.count(inode, Kind.ALLOC)).toBe(FLOWS);

    sh('ip', 'netns', 'del', NAMED);
    const dropMs = await until(() => !source.status().namespaces.some((n) => n.inode === inode), 3000, 'the namespace to be dropped');
    expect(dropMs).toBeLessThan(1500);
    const st = source.status();
    expect(st.vanished.map((v) => v.inode)).toContain(inode);
    expect(st.detail).toMatch(/vanished/);
    // Its entries are closed: a SYNC with nothing seen since now.
    expect(sink.syncCause.get(inode)).toContain(Cause.OTHER);
  });

  it('follows an unnamed namespace held by a process (/proc/PID/ns/net) until the process exits', async () => {
    holder = spawn('unshare', ['--net', 'sleep', '120'], { stdio: 'ignore' });
    const pid = holder.pid!;
    let inode = 0;
    await until(
      () => {
        const n = source.status().namespaces.find((x) => x.name === `pid:${pid}`);
        if (n) inode = n.inode;
        return n !== undefined;
      },
      3000,
      'the process namespace',
    );
    expect(inode).toBe(fs.statSync(`/proc/${pid}/ns/net`).ino);
    await until(() => sink.count(inode, Kind.SYNC) > 0, 3000, 'its dump at start');
    holder.kill('SIGKILL');
    await exited(holder);
    await until(() => !source.status().namespaces.some((n) => n.inode === inode), 3000, 'the namespace to be dropped');
    expect(source.status().vanished.map((v) => v.inode)).toContain(inode);
  });
});
