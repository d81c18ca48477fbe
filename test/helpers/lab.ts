// The network-namespace lab for kernel tests: two namespaces joined by a veth
// pair, real conntrack, real nft. Everything it creates is named from the
// prefix the test gives and removed by destroy(); it never touches anything
// else. Kernel tests change global state (nf_conntrack_max) and drive traffic,
// so they run one at a time on the machine: withKernelLock() is a
// cross-process lock (an atomic mkdir with the holder's pid), because vitest
// workers, several test runs and benchmarks may run at once.

import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** What a tier needs, as the runner checks it (scripts/test-tiers.mjs). */
export type { Requirement as Tier } from '../../scripts/test-tiers.mjs';
export { kernelTier } from '../../scripts/test-tiers.mjs';

// CTSCOPE_KERNEL_LOCK names another lock: a run that must not wait for the
// machine's other test runs (a CI run on a shared machine, whose operator
// holds the default lock meanwhile so the others wait for it) takes its own.
const LOCK_DIR = process.env.CTSCOPE_KERNEL_LOCK || '/run/ctscope-kernel-test.lock';

function lockHolderAlive(): boolean {
  try {
    const pid = Number(fs.readFileSync(`${LOCK_DIR}/pid`, 'utf8'));
    if (!pid) return true; // being written
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Run fn while holding the machine-wide kernel-test lock (waits up to timeoutMs). */
export async function withKernelLock<T>(fn: () => Promise<T>, timeoutMs = 30 * 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      fs.mkdirSync(LOCK_DIR);
      fs.writeFileSync(`${LOCK_DIR}/pid`, String(process.pid));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      // A holder that died (kill -9, crashed worker) leaves the directory behind.
      if (fs.existsSync(`${LOCK_DIR}/pid`) && !lockHolderAlive()) {
        fs.rmSync(LOCK_DIR, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`kernel-test lock ${LOCK_DIR} still held after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(LOCK_DIR, { recursive: true, force: true });
  }
}

export interface ExecResult {
  stdout: string;
  stderr: string;
}

const CT_MAX = '/proc/sys/net/netfilter/nf_conntrack_max';

/** A client and a server namespace joined by a veth pair. */
export class Lab {
  readonly client: string;
  readonly server: string;
  /** 10.77.<subnet>.0/24 */
  readonly subnet: number;
  readonly clientAddress: string;
  readonly serverAddress: string;
  readonly clientIf: string;
  readonly serverIf: string;
  private readonly extra: string[] = [];
  private savedMax: number | null = null;

  private constructor(readonly prefix: string) {
    if (!/^[a-z][a-z0-9]{0,7}$/.test(prefix)) throw new Error(`lab prefix must be [a-z][a-z0-9]{0,7}: ${prefix}`);
    this.client = `${prefix}-c`;
    this.server = `${prefix}-s`;
    // interface names live inside the namespaces, so they only need to be
    // unique there; the veth is created in the client namespace directly.
    this.clientIf = 'lab0';
    this.serverIf = 'lab1';
    let h = 0;
    for (const ch of prefix) h = (h * 31 + ch.charCodeAt(0)) % 250;
    this.subnet = h + 1;
    this.clientAddress = `10.77.${this.subnet}.1`;
    this.serverAddress = `10.77.${this.subnet}.2`;
  }

  /** Create the lab (removing a stale one of the same prefix left by a crashed run). */
  static async create(prefix: string): Promise<Lab> {
    const lab = new Lab(prefix);
    await lab.removeNamespaces();
    try {
      await run('ip', ['netns', 'add', lab.client]);
      await run('ip', ['netns', 'add', lab.server]);
      await lab.exec(lab.client, ['ip', 'link', 'add', lab.clientIf, 'type', 'veth', 'peer', 'name', lab.serverIf, 'netns', lab.server]);
      await lab.exec(lab.client, ['ip', 'addr', 'add', `${lab.clientAddress}/24`, 'dev', lab.clientIf]);
      await lab.exec(lab.server, ['ip', 'addr', 'add', `${lab.serverAddress}/24`, 'dev', lab.serverIf]);
      // IPv6 too, without DAD delays.
      await lab.exec(lab.client, ['sysctl', '-qw', `net.ipv6.conf.${lab.clientIf}.accept_dad=0`]);
      await lab.exec(lab.server, ['sysctl', '-qw', `net.ipv6.conf.${lab.serverIf}.accept_dad=0`]);
      await lab.exec(lab.client, ['ip', '-6', 'addr', 'add', `${lab.clientAddress6}/64`, 'dev', lab.clientIf, 'nodad']);
      await lab.exec(lab.server, ['ip', '-6', 'addr', 'add', `${lab.serverAddress6}/64`, 'dev', lab.serverIf, 'nodad']);
      for (const ns of [lab.client, lab.server]) {
        await lab.exec(ns, ['ip', 'link', 'set', 'lo', 'up']);
      }
      await lab.exec(lab.client, ['ip', 'link', 'set', lab.clientIf, 'up']);
      await lab.exec(lab.server, ['ip', 'link', 'set', lab.serverIf, 'up']);
    } catch (e) {
      await lab.destroy();
      throw e;
    }
    return lab;
  }

  get clientAddress6(): string {
    return `fd77:${this.subnet.toString(16)}::1`;
  }

  get serverAddress6(): string {
    return `fd77:${this.subnet.toString(16)}::2`;
  }

  /** Add another source address on the client side (10.77.<subnet>.<host>), returned. */
  async addClientAddress(host: number): Promise<string> {
    if (!Number.isInteger(host) || host < 3 || host > 254) throw new Error(`host must be 3..254: ${host}`);
    const a = `10.77.${this.subnet}.${host}`;
    await this.exec(this.client, ['ip', 'addr', 'add', `${a}/24`, 'dev', this.clientIf]);
    this.extra.push(a);
    return a;
  }

  /** Run a command inside a namespace of this lab. */
  async exec(ns: string, args: string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<ExecResult> {
    this.own(ns);
    const p = run('ip', ['netns', 'exec', ns, ...args], {
      timeout: opts.timeoutMs ?? 60_000,
      maxBuffer: 256 * 1024 * 1024,
    });
    if (opts.input !== undefined) p.child.stdin?.end(opts.input);
    const { stdout, stderr } = await p;
    return { stdout, stderr };
  }

  /** Load an nft script into a namespace (`nft -f -`). */
  async nft(ns: string, script: string): Promise<void> {
    await this.exec(ns, ['nft', '-f', '-'], { input: script });
  }

  /** nft -j list ruleset of a namespace, parsed. */
  async nftJson(ns: string): Promise<unknown> {
    const { stdout } = await this.exec(ns, ['nft', '-j', 'list', 'ruleset']);
    return JSON.parse(stdout);
  }

  /** Lower (or raise) the global nf_conntrack_max; destroy() restores it. */
  setConntrackMax(n: number): void {
    if (this.savedMax === null) this.savedMax = Number(fs.readFileSync(CT_MAX, 'utf8'));
    fs.writeFileSync(CT_MAX, String(n));
  }

  /** The namespace's inode (what records carry in `netns`). */
  netnsInode(ns: string): number {
    this.own(ns);
    return fs.statSync(`/run/netns/${ns}`).ino;
  }

  /** /proc/net/stat/nf_conntrack of a namespace, summed over CPUs, by column name. */
  async conntrackStats(ns: string): Promise<Record<string, number>> {
    const { stdout } = await this.exec(ns, ['cat', '/proc/net/stat/nf_conntrack']);
    const lines = stdout.trim().split('\n');
    const cols = lines[0]!.trim().split(/\s+/);
    const sum: Record<string, number> = {};
    for (const c of cols) sum[c] = 0;
    for (const line of lines.slice(1)) {
      line
        .trim()
        .split(/\s+/)
        .forEach((v, i) => {
          // `entries` is a global figure repeated on every CPU line.
          if (cols[i] === 'entries') sum.entries = parseInt(v, 16);
          else sum[cols[i]!] = (sum[cols[i]!] ?? 0) + parseInt(v, 16);
        });
    }
    return sum;
  }

  /** conntrack -L of a namespace (text lines). */
  async conntrackList(ns: string, extraArgs: string[] = []): Promise<string[]> {
    const { stdout } = await this.exec(ns, ['conntrack', '-L', ...extraArgs]);
    return stdout.split('\n').filter((l) => l.trim() !== '');
  }

  /** Remove everything this lab created and restore nf_conntrack_max. */
  async destroy(): Promise<void> {
    if (this.savedMax !== null) {
      fs.writeFileSync(CT_MAX, String(this.savedMax));
      this.savedMax = null;
    }
    await this.removeNamespaces();
  }

  private async removeNamespaces(): Promise<void> {
    for (const ns of [this.client, this.server]) {
      if (fs.existsSync(`/run/netns/${ns}`)) {
        // Processes we started inside (servers, floods) would keep it alive.
        try {
          await run('ip', ['netns', 'pids', ns]).then(({ stdout }) => {
            for (const pid of stdout.split('\n').filter(Boolean)) {
              try {
                process.kill(Number(pid), 'SIGKILL');
              } catch {
                /* already gone */
              }
            }
          });
        } catch {
          /* namespace half-created */
        }
        await run('ip', ['netns', 'del', ns]).catch(() => undefined);
      }
    }
  }

  private own(ns: string): void {
    if (ns !== this.client && ns !== this.server) throw new Error(`namespace ${ns} is not part of lab ${this.prefix}`);
  }
}
