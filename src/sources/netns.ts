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

const NET_LINK = /^net:\[(\d+)\]$/;

/** The namespace ctscope itself runs in (the "host" one). */
export function ownNetns(procDir = '/proc'): { inode: number; dev: number } {
  const st = fs.statSync(path.join(procDir, 'self/ns/net'));
  return { inode: st.ino, dev: st.dev };
}

/** Every namespace visible now, by inode. Never throws for races with exiting processes. */
export function scanNamespaces(opts: NetnsScanOptions = {}): Map<number, NetnsEntry> {
  const runDir = opts.runDir ?? '/run/netns';
  const procDir = opts.procDir ?? '/proc';
  const out = new Map<number, NetnsEntry>();
  const self = ownNetns(procDir);
  out.set(self.inode, { inode: self.inode, path: undefined, name: 'host' });

  let names: string[] = [];
  try {
    names = fs.readdirSync(runDir);
  } catch {
    /* no named namespaces */
  }
  for (const name of names.sort()) {
    const p = path.join(runDir, name);
    try {
      const st = fs.statSync(p);
      // `ip netns add` creates the file before it bind-mounts the namespace
      // on it: until then it is a plain tmpfs file, which setns refuses.
      if (st.dev !== self.dev) continue;
      if (!out.has(st.ino)) out.set(st.ino, { inode: st.ino, path: p, name });
    } catch {
      /* removed meanwhile */
    }
  }

  if (opts.processes !== false) {
    let pids: string[] = [];
    try {
      pids = fs.readdirSync(procDir).filter((d) => /^\d+$/.test(d));
    } catch {
      /* no procfs */
    }
    for (const pid of pids) {
      let link: string;
      try {
        link = fs.readlinkSync(path.join(procDir, pid, 'ns/net'));
      } catch {
        continue; // exited, or a kernel thread
      }
      const m = NET_LINK.exec(link);
      if (!m) continue;
      const inode = Number(m[1]);
      if (!out.has(inode)) out.set(inode, { inode, path: path.join(procDir, pid, 'ns/net'), name: `pid:${pid}` });
    }
  }
  return out;
}

export interface NetnsWatcherOptions extends NetnsScanOptions {
  /** Period of the full scan (default 500 ms: a namespace is followed within 1 s). */
  scanMs?: number;
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

  /** Compare with the previous scan and report the differences. */
  scan(): void {
    let now: Map<number, NetnsEntry>;
    try {
      now = scanNamespaces(this.opts);
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
          this.scan();
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
