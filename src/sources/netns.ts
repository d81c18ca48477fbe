// Which network namespaces exist: the one ctscope runs in, every name under
// /run/netns (iproute2, CNI plugins) and every /proc/PID/ns/net (container
// runtimes that do not name theirs), deduplicated by inode, the identity
// records carry in `netns`.
//
// NetnsWatcher reports namespaces as they appear and vanish: inotify on
// /run/netns for named ones (immediate) plus a periodic scan for the rest.
// A namespace counts as gone when no path names it any more; a reader's own
// sockets keep the kernel object alive, so "gone" cannot mean "freed".

import fs from 'node:fs';
import path from 'node:path';

export interface NetnsEntry {
  /** nsfs inode: what records carry in `netns`. */
  inode: number;
  /** A path that opens it (for setns); undefined for ctscope's own namespace. */
  path: string | undefined;
  /** 'host', the /run/netns name, or 'pid:N' (first process found in it). */
  name: string;
}

export interface NetnsScanOptions {
  /** Default /run/netns. */
  runDir?: string;
  /** Default /proc. */
  procDir?: string;
  /** Scan /proc/PID/ns/net too (default true). */
  processes?: boolean;
}

/**
 * pid -> netns inode from earlier scans. readlink of every /proc/PID/ns/net
 * is most of a scan's cost (tens of ms with thousands of processes, every
 * 500 ms). A new namespace comes with a new process (clone, a container
 * runtime) or a bind mount, or from a process that moves itself right after
 * it starts (unshare(1), `ip netns exec`): so a pid is re-read while it is
 * young (FRESH_MS) and on every full scan, which catches the rest.
 */
export type PidNetnsCache = Map<string, { inode: number; firstSeen: number }>;

const FRESH_MS = 3000;

/**
 * /run/netns name -> inode from earlier scans. A stat of every name every
 * 500 ms was most of a dense node's idle scan (1,000 names: 2,000 stats a
 * second); a name's namespace changes only when it is deleted and added
 * again, which inotify reports (that scan stats every name), or by a mount
 * over it, which a full scan catches. So a known name is stat'ed on full
 * scans only; a new one on every scan until it is a namespace.
 */
export type NameNetnsCache = Map<string, number>;

const NET_LINK = /^net:\[(\d+)\]$/;

/** The namespace ctscope itself runs in (the "host" one). */
export function ownNetns(procDir = '/proc'): { inode: number; dev: number } {
  const st = fs.statSync(path.join(procDir, 'self/ns/net'));
  return { inode: st.ino, dev: st.dev };
}

/** Every namespace visible now, by inode. Never throws for races with exiting processes. */
export function scanNamespaces(opts: NetnsScanOptions = {}, cache?: PidNetnsCache, full = true, names?: NameNetnsCache, fullNames = full): Map<number, NetnsEntry> {
  const runDir = opts.runDir ?? '/run/netns';
  const procDir = opts.procDir ?? '/proc';
  const out = new Map<number, NetnsEntry>();
  const self = ownNetns(procDir);
  out.set(self.inode, { inode: self.inode, path: undefined, name: 'host' });

  let listed: string[] = [];
  try {
    listed = fs.readdirSync(runDir);
  } catch {
    /* no named namespaces */
  }
  if (names) {
    const present = new Set(listed);
    for (const n of names.keys()) if (!present.has(n)) names.delete(n);
  }
  for (const name of listed.sort()) {
    const p = path.join(runDir, name);
    let ino = fullNames ? undefined : names?.get(name);
    if (ino === undefined) {
      try {
        const st = fs.statSync(p);
        // `ip netns add` creates the file before it bind-mounts the namespace
        // on it: until then it is a plain tmpfs file, which setns refuses.
        if (st.dev !== self.dev) {
          names?.delete(name);
          continue;
        }
        ino = st.ino;
        names?.set(name, ino);
      } catch {
        names?.delete(name);
        continue; // removed meanwhile
      }
    }
    if (!out.has(ino)) out.set(ino, { inode: ino, path: p, name });
  }

  if (opts.processes !== false) {
    let pids: string[] = [];
    try {
      pids = fs.readdirSync(procDir).filter((d) => /^\d+$/.test(d));
    } catch {
      /* no procfs */
    }
    const alive = cache ? new Set(pids) : null;
    const now = Date.now();
    for (const pid of pids) {
      const known = cache?.get(pid);
      let inode = !full && known && now - known.firstSeen > FRESH_MS ? known.inode : undefined;
      if (inode === undefined) {
        let link: string;
        try {
          link = fs.readlinkSync(path.join(procDir, pid, 'ns/net'));
        } catch {
          cache?.delete(pid);
          continue; // exited, or a kernel thread
        }
        const m = NET_LINK.exec(link);
        if (!m) continue;
        inode = Number(m[1]);
        cache?.set(pid, { inode, firstSeen: known?.firstSeen ?? now });
      }
      if (!out.has(inode)) out.set(inode, { inode, path: path.join(procDir, pid, 'ns/net'), name: `pid:${pid}` });
    }
    if (cache && alive) for (const pid of cache.keys()) if (!alive.has(pid)) cache.delete(pid);
  }
  return out;
}

export interface NetnsWatcherOptions extends NetnsScanOptions {
  /** Period of the scan (default 500 ms: a namespace is followed within 1 s). */
  scanMs?: number;
  /** Every how many scans known pids are re-read too (default 10). */
  fullEvery?: number;
  onAppear(ns: NetnsEntry): void;
  onVanish(ns: NetnsEntry): void;
  /** After every scan, with what exists now. */
  onScanned?(current: ReadonlyMap<number, NetnsEntry>): void;
}

/** Calls onAppear/onVanish as namespaces come and go; the first scan runs in start(). */
export class NetnsWatcher {
  private known = new Map<number, NetnsEntry>();
  private timer: NodeJS.Timeout | null = null;
  private watcher: fs.FSWatcher | null = null;
  private debounce: NodeJS.Timeout | null = null;
  private readonly pidCache: PidNetnsCache = new Map();
  private readonly nameCache: NameNetnsCache = new Map();
  private scans = 0;

  constructor(private readonly opts: NetnsWatcherOptions) {}

  start(): void {
    this.scan();
    this.timer = setInterval(() => this.scan(), this.opts.scanMs ?? 500);
    this.timer.unref();
    this.watchRunDir();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.debounce) clearTimeout(this.debounce);
    this.watcher?.close();
    this.timer = this.debounce = null;
    this.watcher = null;
  }

  current(): NetnsEntry[] {
    return [...this.known.values()];
  }

  /** Compare with the previous scan and report the differences; `namesChanged`: /run/netns changed (stat every name). */
  scan(namesChanged = false): void {
    let now: Map<number, NetnsEntry>;
    try {
      const full = this.scans++ % (this.opts.fullEvery ?? 10) === 0;
      now = scanNamespaces(this.opts, this.pidCache, full, this.nameCache, full || namesChanged);
    } catch {
      return; // /proc unreadable for a moment: keep what we know
    }
    for (const [inode, ns] of this.known) {
      if (!now.has(inode)) {
        this.known.delete(inode);
        this.opts.onVanish(ns);
      }
    }
    for (const [inode, ns] of now) {
      const old = this.known.get(inode);
      if (!old) {
        this.known.set(inode, ns);
        this.opts.onAppear(ns);
      } else if (old.path !== ns.path && old.path !== undefined && ns.path !== undefined) {
        // Still alive under another path (the process we knew it by exited):
        // only matters if its reader has to be started again.
        this.known.set(inode, ns);
      }
    }
    this.opts.onScanned?.(this.known);
  }

  private watchRunDir(): void {
    const dir = this.opts.runDir ?? '/run/netns';
    try {
      this.watcher = fs.watch(dir, () => {
        // `ip netns add` creates, then mounts: scan a moment later.
        if (this.debounce) return;
        this.debounce = setTimeout(() => {
          this.debounce = null;
          this.scan(true);
        }, 50);
        this.debounce.unref();
      });
      this.watcher.on('error', () => {
        this.watcher?.close();
        this.watcher = null;
      });
      this.watcher.unref();
    } catch {
      // No /run/netns yet: the periodic scan covers it (and retries the watch).
      const retry = setTimeout(() => {
        if (this.timer) this.watchRunDir();
      }, 5000);
      retry.unref();
    }
  }
}
