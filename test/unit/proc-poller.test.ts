// Issue 17, dense nodes: the /proc poller's cost per tick is bounded and its
// reading is not done on the JavaScript thread. At 1,000 namespaces the old
// poller read every namespace's thirty files each second on this thread (a
// thread created per namespace, joined there): a poll outlasted its interval
// and the API answered in seconds. Held here by structure, not by time: what
// a tick asks to read, that the reading is awaited (the reader answers when
// the test says so, and the thread is free meanwhile), that a tick while a
// poll is out is skipped, and that the figures come through exactly.
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ProcPoller, ctnetlinkPresent } from '../../src/proc/poller.js';
import os from 'node:os';
import path from 'node:path';
import { ReadPlan, type PlannedRead } from '../../src/proc/read-plan.js';
import type { ProcSnapshot } from '../../src/proc/types.js';
import type { NetnsJob, NetnsResult } from '../../src/native/surface.js';

const STAT = `entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart
00000007  00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000011 00000000 00000000  00000000 00000000 00000000 00000000
`;

/** 1 + n namespaces: the host (null path) and n at /run/netns/ns-<ino>. */
function namespaces(n: number, first = 5000): Map<number, string> {
  return new Map(Array.from({ length: n }, (_, i) => [first + i, `/run/netns/ns-${first + i}`]));
}

describe('ReadPlan: what one tick reads', () => {
  it.each([
    // [namespaces, per tick, ticks to read each once]
    [10, 256, 1],
    [256, 256, 1],
    [257, 256, 2],
    [1000, 256, 4],
    [1000, 100, 10],
  ])('%i namespaces at %i a tick: the host and at most that many others, each read in %i tick(s)', (n, perTick, cycle) => {
    const plan = new ReadPlan({ perTick });
    plan.sync(1, namespaces(n));
    const seen = new Map<number, number>();
    for (let t = 0; t < cycle; t++) {
      const reads = plan.next(t * 1000);
      expect(reads[0]).toMatchObject({ netns: 1, path: null });
      expect(reads.length - 1).toBeLessThanOrEqual(perTick);
      for (const r of reads) {
        seen.set(r.netns, (seen.get(r.netns) ?? 0) + 1);
        plan.done(r, t * 1000);
      }
    }
    expect(seen.size).toBe(n + 1);
    // (the last tick fills its bound with the least recently read again)
    expect([...seen].filter(([ino]) => ino !== 1).every(([, k]) => k === 1 || (k === 2 && n % perTick !== 0))).toBe(true);
    expect(plan.staleness(cycle * 1000)).toMatchObject({ namespaces: n + 1, per_tick: perTick, cycle_ticks: cycle, unread: 0 });
  });

  it('reads the timeouts on a first reading, a new path and every fullEveryMs; the cookie on a first reading and a new path', () => {
    const plan = new ReadPlan({ perTick: 10, fullEveryMs: 30_000 });
    plan.sync(1, namespaces(1));
    const at = (ms: number): PlannedRead => {
      const r = plan.next(ms).find((x) => x.netns === 5000)!;
      plan.done(r, ms);
      return r;
    };
    expect(at(0)).toMatchObject({ full: true, cookie: true });
    expect(at(1000)).toMatchObject({ full: false, cookie: false });
    expect(at(29_000)).toMatchObject({ full: false, cookie: false });
    expect(at(30_000)).toMatchObject({ full: true, cookie: false });
    plan.sync(1, new Map([[5000, '/proc/42/ns/net']])); // another namespace may have the inode now
    expect(at(31_000)).toMatchObject({ full: true, cookie: true, path: '/proc/42/ns/net' });
  });

  it('forgets namespaces no path names any more, and says so', () => {
    const plan = new ReadPlan();
    plan.sync(1, namespaces(3));
    expect(plan.sync(1, namespaces(1))).toEqual([5001, 5002]);
    expect(plan.next(0).map((r) => r.netns)).toEqual([1, 5000]);
  });
});

describe('ProcPoller: the reading awaited, bounded, exact', () => {
  /** A reader that answers when the test says: count = the inode's last three digits, max 1000, drop 0x11. */
  function reader() {
    const calls: NetnsJob[][] = [];
    const pending: (() => void)[] = [];
    const read = (jobs: NetnsJob[]) => {
      calls.push(jobs);
      return new Promise<NetnsResult[]>((resolve) => {
        pending.push(() =>
          resolve(
            jobs.map((j) => {
              if (j.path?.endsWith('-gone')) return { error: 'No such file or directory', ts: 0, texts: [], cookie: null, stats: null };
              const ino = j.path === null ? 0 : Number(/(\d+)$/.exec(j.path)![1]);
              const texts = j.files.map((f) => (f.endsWith('_count') ? `${ino % 1000}\n` : f.endsWith('_max') ? '1000\n' : f.endsWith('stat/nf_conntrack') ? STAT : f.endsWith('_buckets') ? '256\n' : '30\n'));
              return { error: null, ts: 1e9, texts, cookie: j.cookie ? String(ino + 1) : null, stats: null };
            }),
          ),
        );
      });
    };
    return { read, calls, answer: () => pending.shift()!() };
  }
  const settle = () => new Promise((r) => setImmediate(r));

  it('at 1,000 namespaces a tick asks for the host and 256 others, the thread is free while they are read, and a tick meanwhile is skipped', async () => {
    const r = reader();
    const got: ProcSnapshot[] = [];
    const ns = namespaces(1000);
    const p = new ProcPoller({ intervalMs: 3_600_000, namespaces: () => ns, onSnapshot: (s) => got.push(s), read: r.read });
    p.tick();
    expect(r.calls).toHaveLength(1);
    expect(r.calls[0]!.length).toBe(257);
    // nothing read on this thread: no snapshot until the reader answers, and other work runs meanwhile
    let ranMeanwhile = false;
    setImmediate(() => (ranMeanwhile = true));
    await settle();
    expect(ranMeanwhile).toBe(true);
    expect(got).toHaveLength(0);
    p.tick(); // the previous poll is still out
    expect(r.calls).toHaveLength(1);
    expect(p.lateTicks).toBe(1);
    r.answer();
    await settle();
    expect(got).toHaveLength(257);
    // the figures as read: count, max, the statistics summed, the timeouts of the full first read
    const s = got.find((x) => x.netns === 5123)!;
    expect(s).toMatchObject({ count: 123, max: 1000, buckets: 256, stats_source: 'proc', cookie: '5124' });
    expect(s.stats.drop).toBe(0x11);
    expect(Object.values(s.timeouts).length).toBe(fs.readdirSync('/proc/sys/net/netfilter').filter((f) => /timeout/.test(f)).length);
    // every namespace within four ticks, each tick bounded
    for (let t = 0; t < 3; t++) {
      p.tick();
      r.answer();
      await settle();
    }
    expect(r.calls.map((c) => c.length)).toEqual([257, 257, 257, 257]);
    expect(new Set(got.map((x) => x.netns)).size).toBe(1001);
    expect(p.staleness()).toMatchObject({ namespaces: 1001, cycle_ticks: 4, unread: 0 });
  });

  it('a fast read keeps the timeouts of the last full one; a namespace that cannot be entered, or is no longer named, vanishes', async () => {
    const r = reader();
    const got: ProcSnapshot[] = [];
    const vanished: number[] = [];
    const ns = new Map([
      [7001, '/run/netns/a-7001'],
      [7002, '/run/netns/b-7002'],
    ]);
    const p = new ProcPoller({ intervalMs: 3_600_000, namespaces: () => ns, onSnapshot: (s) => got.push(s), onVanish: (n) => vanished.push(n), read: r.read });
    const poll = async () => {
      const done = p.poll();
      r.answer();
      await done;
    };
    await poll();
    const fast = got.length;
    await poll();
    const second = r.calls[1]!.find((j) => j.path === '/run/netns/a-7001')!;
    expect(second.files.length).toBe(3); // count, max, statistics
    expect(got[fast]!.timeouts).toEqual(got[0]!.timeouts);
    ns.set(7002, '/run/netns/b-gone');
    ns.delete(7001);
    await poll();
    expect(vanished.sort()).toEqual([7001, 7002]);
  });
});

describe('the count and max over ctnetlink only where asking loads nothing', () => {
  it.each([
    // [a kernel with loadable modules, nf_conntrack_netlink loaded] -> asked over ctnetlink
    [false, false, true], // built in: nothing to load
    [true, true, true], // its module loaded already
    [true, false, false], // a request would have the kernel load it: the files are read
  ])('modules %s, ctnetlink loaded %s: over ctnetlink %s', (modules, loaded, want) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctscope-mod-'));
    try {
      if (modules) fs.writeFileSync(path.join(dir, 'modules'), '');
      if (loaded) fs.mkdirSync(path.join(dir, 'nf_conntrack_netlink'));
      expect(ctnetlinkPresent(path.join(dir, 'modules'), path.join(dir, 'nf_conntrack_netlink'))).toBe(want);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the poller's jobs ask for them as told", async () => {
    for (const allowed of [true, false]) {
      const jobs: NetnsJob[][] = [];
      const p = new ProcPoller({
        intervalMs: 3_600_000,
        namespaces: () => new Map([[7001, '/run/netns/a']]),
        onSnapshot: () => undefined,
        ctnetlink: () => allowed,
        read: async (j) => (jobs.push(j), j.map(() => ({ error: 'gone', ts: 0, texts: [], cookie: null, stats: null }))),
      });
      await p.poll();
      expect(jobs[0]!.every((j) => (j.ctCount !== undefined) === allowed)).toBe(true);
    }
  });
});
