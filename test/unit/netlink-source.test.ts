// The TypeScript half of the netlink source without the kernel: namespace
// discovery from a fake /proc and /run/netns, and NetlinkSource's bookkeeping
// (one reader per namespace, loss totals that survive a reader's end, the
// SYNC that closes a vanished namespace, retry of a namespace that could not
// be entered) with fake native readers.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { scanNamespaces } from '../../src/sources/netns.js';
import {
  NetlinkSource,
  type NetlinkReader,
  type NetlinkReaderOptions,
  type NetlinkReaderStats,
} from '../../src/sources/netlink.js';
import { keepBatch, type RecordColumns } from '../../src/records/batch.js';
import { encodeRecord } from '../../src/records/encode.js';
import { Cause, Kind, Origin, RECORD_SIZE } from '../../src/records/layout.js';

const hostInode = fs.statSync('/proc/self/ns/net').ino;

let dir: string;
let procDir: string;
let runDir: string;

function addPid(pid: number, inode: number): void {
  fs.mkdirSync(path.join(procDir, String(pid), 'ns'), { recursive: true });
  // readlink of /proc/PID/ns/net gives "net:[INODE]": a dangling symlink says the same.
  fs.symlinkSync(`net:[${inode}]`, path.join(procDir, String(pid), 'ns/net'));
}
function removePid(pid: number): void {
  fs.rmSync(path.join(procDir, String(pid)), { recursive: true, force: true });
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctscope-netns-'));
  procDir = path.join(dir, 'proc');
  runDir = path.join(dir, 'netns');
  fs.mkdirSync(path.join(procDir, 'self/ns'), { recursive: true });
  fs.symlinkSync('/proc/self/ns/net', path.join(procDir, 'self/ns/net'));
  fs.mkdirSync(runDir);
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('scanNamespaces', () => {
  it('finds the host, named and process namespaces once each, by inode', () => {
    addPid(1, hostInode);
    addPid(42, 4026532001);
    addPid(43, 4026532001);
    addPid(77, 4026532002);
    fs.mkdirSync(path.join(procDir, 'not-a-pid'));
    // A named namespace that is the host's (bind mount of the same nsfs inode).
    fs.symlinkSync('/proc/self/ns/net', path.join(runDir, 'alias'));
    // `ip netns add` mid-way: a plain file, not yet a namespace.
    fs.writeFileSync(path.join(runDir, 'half'), '');
    const found = [...scanNamespaces({ procDir, runDir }).values()].sort((a, b) => a.inode - b.inode);
    expect(found).toEqual(
      [
        { inode: hostInode, path: undefined, name: 'host' },
        { inode: 4026532001, path: path.join(procDir, '42/ns/net'), name: 'pid:42' },
        { inode: 4026532002, path: path.join(procDir, '77/ns/net'), name: 'pid:77' },
      ].sort((a, b) => a.inode - b.inode),
    );
  });

  it('re-reads known pids only while young or on a full scan, and forgets exited ones', () => {
    addPid(42, 4026532001);
    const cache = new Map<string, { inode: number; firstSeen: number }>();
    expect([...scanNamespaces({ procDir, runDir }, cache, true).keys()]).toContain(4026532001);
    cache.get('42')!.firstSeen -= 10_000; // no longer young
    // pid 42 moved to another namespace (setns): a quick scan trusts the cache...
    removePid(42);
    addPid(42, 4026532009);
    addPid(43, 4026532005); // ...but reads new pids.
    const quick = scanNamespaces({ procDir, runDir }, cache, false);
    expect([...quick.keys()]).toEqual(expect.arrayContaining([4026532001, 4026532005]));
    expect(quick.has(4026532009)).toBe(false);
    expect([...scanNamespaces({ procDir, runDir }, cache, true).keys()]).toEqual(expect.arrayContaining([4026532009, 4026532005]));
    removePid(43);
    scanNamespaces({ procDir, runDir }, cache, false);
    expect(cache.has('43')).toBe(false);
  });

  it('stats a known /run/netns name only on a full scan or when the directory changed, a new one every scan, and forgets removed ones', () => {
    // nsfs files of other kinds stand for other namespaces (same device as /proc/self/ns/net, other inodes)
    const ino = (f: string) => fs.statSync(f).ino;
    const names = new Map<string, number>();
    fs.symlinkSync('/proc/self/ns/uts', path.join(runDir, 'a'));
    fs.writeFileSync(path.join(runDir, 'half'), ''); // not yet a namespace: not cached, stat'ed again next time
    expect(scanNamespaces({ procDir, runDir, processes: false }, undefined, false, names, false).has(ino('/proc/self/ns/uts'))).toBe(true);
    expect([...names.keys()]).toEqual(['a']);
    // a mounted over by another namespace: a quick scan trusts what it knew (no stat)...
    fs.rmSync(path.join(runDir, 'a'));
    fs.symlinkSync('/proc/self/ns/ipc', path.join(runDir, 'a'));
    fs.rmSync(path.join(runDir, 'half'));
    fs.symlinkSync('/proc/self/ns/mnt', path.join(runDir, 'half')); // ...but stats a name it had not cached
    const quick = scanNamespaces({ procDir, runDir, processes: false }, undefined, false, names, false);
    expect([...quick.keys()].sort()).toEqual([hostInode, ino('/proc/self/ns/uts'), ino('/proc/self/ns/mnt')].sort());
    // a full scan of the names (or one that inotify asked for) sees the change
    const fullNames = scanNamespaces({ procDir, runDir, processes: false }, undefined, false, names, true);
    expect(fullNames.has(ino('/proc/self/ns/ipc'))).toBe(true);
    expect(fullNames.has(ino('/proc/self/ns/uts'))).toBe(false);
    fs.rmSync(path.join(runDir, 'a'));
    expect(scanNamespaces({ procDir, runDir, processes: false }, undefined, false, names, false).has(ino('/proc/self/ns/ipc'))).toBe(false);
    expect([...names.keys()]).toEqual(['half']);
  });

  it('skips /proc when asked', () => {
    addPid(42, 4026532001);
    expect([...scanNamespaces({ procDir, runDir, processes: false }).keys()]).toEqual([hostInode]);
  });
});

class FakeReader implements NetlinkReader {
  started = false;
  stopped = false;
  s: NetlinkReaderStats;
  constructor(
    readonly opts: NetlinkReaderOptions,
    private readonly inode: number,
    private readonly fail: string | null,
  ) {
    this.s = {
      overruns: 0, resyncs: 0, queueDropped: 0, delivered: 0, rcvbuf: 1 << 28, netns: inode, events: 0, decoded: 0, dumps: 0,
      lastDumpEntries: 0, parseErrors: 0, recvErrors: 0, rcvbufGrowths: 0, resyncing: false, running: false, lastError: null,
    };
  }
  start(): number {
    if (this.fail) throw new Error(this.fail);
    this.started = this.s.running = true;
    return this.inode;
  }
  stop(): void {
    this.stopped = true;
    this.s.running = false;
  }
  resyncs = 0;
  resync(): void {
    this.resyncs++;
  }
  stats(): NetlinkReaderStats {
    return { ...this.s };
  }
  /** Hand one record to the source as the native reader would. */
  emit(kind: number): void {
    const buf = new Uint8Array(RECORD_SIZE);
    encodeRecord(buf, 0, { kind, netns: this.inode, origin: Origin.NETLINK, ts: 1, src: '10.0.0.1', dst: '10.0.0.2', proto: 17 });
    this.opts.onBatch(buf.buffer, 1);
  }
}

function inodeOf(p: string | undefined): number {
  if (p === undefined) return hostInode;
  return Number(/net:\[(\d+)\]/.exec(fs.readlinkSync(p))![1]);
}

describe('NetlinkSource', () => {
  const batches: RecordColumns[] = [];
  // batches are lent for the call (records/sink.ts): kept as copies
  const sink = { ingest: (c: RecordColumns) => void batches.push(keepBatch(c)) };
  let readers: FakeReader[];
  let failing: Set<number>;

  beforeEach(() => {
    batches.length = 0;
    readers = [];
    failing = new Set();
  });

  const make = (extra: Partial<ConstructorParameters<typeof NetlinkSource>[0]> = {}) =>
    new NetlinkSource({
      procDir,
      runDir,
      scanMs: 60_000, // scans are driven by rescan()
      now: () => 5e9,
      createReader: (o) => {
        const inode = inodeOf(o.netnsPath);
        const r = new FakeReader(o, inode, failing.has(inode) ? `cannot enter netns ${inode}` : null);
        readers.push(r);
        return r;
      },
      ...extra,
    });

  it('runs one reader per namespace and delivers decoded batches', async () => {
    addPid(42, 4026532001);
    addPid(43, 4026532001);
    const src = make();
    await src.start(sink);
    expect(readers.map((r) => r.s.netns).sort()).toEqual([hostInode, 4026532001].sort());
    readers[1]!.emit(Kind.ALLOC);
    expect(batches).toHaveLength(1);
    expect(batches[0]!.kind[0]).toBe(Kind.ALLOC);
    const st = src.status();
    expect(st).toMatchObject({ name: 'netlink', hook: 'ctnetlink', state: 'running', records: 1 });
    expect(st.namespaces).toHaveLength(2);
    await src.stop();
    expect(readers.every((r) => r.stopped)).toBe(true);
    expect(src.status().state).toBe('stopped');
  });

  it('sums loss over readers, keeps it after a namespace vanishes, and closes that namespace with a SYNC', async () => {
    addPid(42, 4026532001);
    const src = make();
    await src.start(sink);
    const nsReader = readers.find((r) => r.s.netns === 4026532001)!;
    const host = readers.find((r) => r.s.netns === hostInode)!;
    nsReader.s.overruns = 3;
    nsReader.s.resyncs = 2;
    host.s.queueDropped = 5;
    expect(src.status().lost).toEqual({ netlinkOverruns: 3, resyncs: 2, queueDropped: 5, total: 8 });

    removePid(42);
    src.rescan();
    expect(nsReader.stopped).toBe(true);
    const st = src.status();
    expect(st.namespaces.map((n) => n.inode)).toEqual([hostInode]);
    expect(st.vanished).toEqual([expect.objectContaining({ inode: 4026532001, name: 'pid:42' })]);
    expect(st.detail).toMatch(/1 vanished \(last: pid:42, netns 4026532001/);
    // Totals never go backwards when a reader ends.
    expect(st.lost).toEqual({ netlinkOverruns: 3, resyncs: 2, queueDropped: 5, total: 8 });
    const sync = batches.at(-1)!;
    expect({ kind: sync.kind[0], netns: sync.netns[0], cause: sync.cause[0], start: sync.start[0], ts: sync.ts[0] }).toEqual({
      kind: Kind.SYNC,
      netns: 4026532001,
      cause: Cause.OTHER,
      start: 5e9,
      ts: 5e9,
    });
    await src.stop();
  });

  it('counts every vanished namespace, not the length of the list it keeps (issue 17: "32 vanished" after 200)', async () => {
    const n = 41;
    for (let i = 0; i < n; i++) addPid(100 + i, 4026533000 + i);
    const src = make();
    await src.start(sink);
    expect(src.status().namespaces).toHaveLength(n + 1);
    for (let i = 0; i < n; i++) removePid(100 + i);
    src.rescan();
    const st = src.status();
    expect(st.namespaces).toHaveLength(1);
    expect(st.vanished).toHaveLength(32);
    expect(st.vanishedTotal).toBe(n);
    expect(st.detail).toMatch(new RegExp(`; ${n} vanished \\(last: pid:`));
    await src.stop();
  });

  it('reports a namespace it cannot enter, and retries it', async () => {
    addPid(42, 4026532001);
    failing.add(4026532001);
    const src = make();
    await src.start(sink);
    let st = src.status();
    expect(st.state).toBe('degraded');
    expect(st.namespaces.find((n) => n.inode === 4026532001)).toMatchObject({ state: 'failed', error: 'cannot enter netns 4026532001' });
    failing.clear();
    // Retries wait RETRY_MS; pretend it has passed.
    const realNow = Date.now;
    Date.now = () => realNow() + 10_000;
    try {
      src.rescan();
    } finally {
      Date.now = realNow;
    }
    st = src.status();
    expect(st.state).toBe('running');
    expect(st.namespaces.find((n) => n.inode === 4026532001)).toMatchObject({ state: 'running', error: null });
    await src.stop();
  });

  it('follows only what include() accepts', async () => {
    addPid(42, 4026532001);
    const src = make({ include: (ns) => ns.name !== 'host' });
    await src.start(sink);
    expect(src.status().namespaces.map((n) => n.inode)).toEqual([4026532001]);
    await src.stop();
  });

  it('survives a consumer that throws, and says so', async () => {
    const src = make();
    await src.start({
      ingest: () => {
        throw new Error('model is full');
      },
    });
    expect(() => readers[0]!.emit(Kind.ALLOC)).not.toThrow();
    const st = src.status();
    expect(st.state).toBe('degraded');
    expect(st.detail).toMatch(/rejected by the consumer: model is full/);
    await src.stop();
  });

  it('gives each reader a decoder of its own, closes it after the reader, and falls back on the filter where one is refused', async () => {
    addPid(42, 4026532001);
    const made: { fds: { prog: number; ring: number; ctx: number }; closed: boolean; close(): void }[] = [];
    const decoder = () => {
      const d = { fds: { prog: 100 + made.length, ring: 200 + made.length, ctx: 300 + made.length }, closed: false, close: () => void (d.closed = true) };
      made.push(d);
      return d;
    };
    const src = make({ filter: { fd: 7 }, decoder });
    await src.start(sink);
    expect(made).toHaveLength(2);
    expect(readers.map((r) => r.opts.decoder?.prog).sort()).toEqual([100, 101]);
    // a reader stops before its decoder is closed (it reads the ring last)
    const reader = readers[0]!;
    const stop = reader.stop.bind(reader);
    const d0 = made.find((d) => d.fds.prog === reader.opts.decoder?.prog)!;
    reader.stop = () => {
      expect(d0.closed).toBe(false);
      stop();
    };
    await src.stop();
    expect(made.every((d) => d.closed)).toBe(true);

    readers = [];
    const refused = make({ filter: { fd: 7 }, decoder: () => { throw new Error('the verifier said no\nlog'); } });
    await refused.start(sink);
    expect(readers.map((r) => [r.opts.decoder, r.opts.filterFd])).toEqual([[undefined, 7], [undefined, 7]]);
    expect(refused.status().detail).toContain('events read as datagrams (the kernel refused the decoder: the verifier said no)');
    await refused.stop();
  });

  it('keeps decoders for the first maxDecoders namespaces; the others read datagrams through the filter, said in the status', async () => {
    for (let i = 0; i < 5; i++) addPid(500 + i, 4026534000 + i);
    let made = 0;
    const decoder = () => {
      const n = made++;
      return { fds: { prog: 100 + n, ring: 200 + n, ctx: 300 + n }, close: () => undefined };
    };
    const src = make({ filter: { fd: 7 }, decoder, maxDecoders: 2 });
    await src.start(sink);
    expect(readers).toHaveLength(6); // the host and five
    expect(made).toBe(2);
    expect(readers.filter((r) => r.opts.decoder).length).toBe(2);
    expect(readers.filter((r) => !r.opts.decoder).every((r) => r.opts.filterFd === 7)).toBe(true);
    // the host is followed first: it has one
    expect(readers.find((r) => inodeOf(r.opts.netnsPath) === hostInode)?.opts.decoder).toBeDefined();
    expect(src.status().detail).toContain('4 namespace(s) read as datagrams (decoders are kept for 2');
    await src.stop();
  });

  it('passes its reader options through', async () => {
    const src = make({ rcvbufBytes: 1 << 20, batchRecords: 64, pollMs: 5, maxQueuedBatches: 8 });
    await src.start(sink);
    expect(readers[0]!.opts).toMatchObject({ netnsPath: undefined, rcvbufBytes: 1 << 20, rcvbufMaxBytes: 1 << 20, batchRecords: 64, pollMs: 5, maxQueuedBatches: 8 });
    await src.stop();
  });

  it('starts every namespace at the whole receive-buffer allowance, and lets a smaller start grow to the maximum', async () => {
    addPid(42, 4026532001);
    const src = make();
    await src.start(sink);
    expect(readers.map((r) => [r.opts.rcvbufBytes, r.opts.rcvbufMaxBytes])).toEqual([
      [128 << 20, 128 << 20],
      [128 << 20, 128 << 20],
    ]);
    await src.stop();
    readers.length = 0;
    const small = make({ rcvbufBytes: 1 << 20, rcvbufMaxBytes: 64 << 20 });
    await small.start(sink);
    expect(readers[0]!.opts).toMatchObject({ rcvbufBytes: 1 << 20, rcvbufMaxBytes: 64 << 20 });
    await small.stop();
  });
});
