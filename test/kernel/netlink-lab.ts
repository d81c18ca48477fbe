// Helpers of the netlink kernel tests: traffic inside lab namespaces, the
// kernel's ground truth (nft counters, conntrack -L), and a minimal reference
// reading of the record stream (what the model does with SEEN/SYNC), so the
// tests check the source against the kernel without depending on src/model.

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { afterAll, beforeAll } from 'vitest';
import { withKernelLock, type Lab } from '../helpers/lab.js';
import type { RecordColumns } from '../../src/records/batch.js';
import type { RecordSink } from '../../src/records/sink.js';
import { formatAddress } from '../../src/records/address.js';
import { FIELDS, Kind, RECORD_SIZE } from '../../src/records/layout.js';

/** Take the machine-wide kernel lock until the returned function is called. */
export async function holdKernelLock(): Promise<() => void> {
  let release: () => void = () => undefined;
  await new Promise<void>((ready) => {
    void withKernelLock(
      () =>
        new Promise<void>((done) => {
          release = done;
          ready();
        }),
    );
  });
  return release;
}

/**
 * Hold the kernel lock for the enclosing describe block: taken before its
 * first test, given back after its last. Other test runs on the machine may
 * hold it for minutes, so the wait has a hook of its own (30 min), not any
 * test's time.
 */
export function holdKernelLockForSuite(): void {
  let release: () => void = () => undefined;
  beforeAll(async () => {
    release = await holdKernelLock();
  }, 30 * 60_000);
  afterAll(() => release());
}

/** Start a long-running process inside a namespace (the lab kills it on destroy). */
export function spawnIn(ns: string, args: string[]): ChildProcess {
  return spawn('ip', ['netns', 'exec', ns, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
}

export async function waitLine(child: ChildProcess, text: string, timeoutMs = 10_000): Promise<void> {
  let buf = '';
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out waiting for "${text}"; got: ${buf}`)), timeoutMs);
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.includes(text)) {
        clearTimeout(t);
        resolve();
      }
    });
    // 'close', not 'exit': a child that prints the line and exits can be
    // seen exiting before its last output is read (a loaded machine did).
    child.once('close', (code) => {
      clearTimeout(t);
      if (!buf.includes(text)) reject(new Error(`process exited (${code}) before "${text}": ${buf}`));
    });
  });
}

/** A TCP server that accepts, drains and closes when the peer closes. */
export async function tcpServer(ns: string, host: string, port: number): Promise<ChildProcess> {
  const code = `const net=require('net');net.createServer(s=>{s.on('error',()=>{});s.on('data',()=>{});s.on('end',()=>s.end());}).listen(${port},'${host}',()=>console.log('ready'));`;
  const child = spawnIn(ns, [process.execPath, '-e', code]);
  await waitLine(child, 'ready');
  return child;
}

/**
 * `count` TCP connections from `src` (`parallel` at a time): connect, send a
 * line, close. With hold, they stay open until the process is killed; the
 * promise then resolves once all are established.
 */
export async function tcpClients(
  ns: string,
  src: string,
  dst: string,
  port: number,
  count: number,
  opts: { hold?: boolean; parallel?: number } = {},
): Promise<ChildProcess> {
  const code = `
const net=require('net');let left=${count},open=0,done=0;const hold=${opts.hold ? 1 : 0};
function one(){ if(left<=0) return; left--; open++;
  const s=net.connect({host:'${dst}',port:${port},localAddress:'${src}'},()=>{ s.write('x\\n'); if(!hold) s.end(); else if(++done===${count}) console.log('held'); });
  s.on('error',e=>{console.error(e.message);process.exit(2)});
  s.on('close',()=>{ open--; if(!hold){ done++; if(done===${count}) console.log('done'); else one(); } });
}
for(let i=0;i<${opts.parallel ?? 8};i++) one();`;
  const child = spawnIn(ns, [process.execPath, '-e', code]);
  await waitLine(child, opts.hold ? 'held' : 'done', 60_000);
  return child;
}

/** hping3 UDP flood: `count` packets from `src`, source ports base, base+1, … (one flow each). */
export async function udpFlows(
  run: (ns: string, args: string[]) => Promise<unknown>,
  ns: string,
  src: string,
  dst: string,
  count: number,
  opts: { basePort?: number; dport?: number; intervalUs?: number } = {},
): Promise<void> {
  await run(ns, [
    'hping3', '--udp', '-q', '-a', src, '-s', String(opts.basePort ?? 10000), '-p', String(opts.dport ?? 7),
    '-c', String(count), '-i', `u${opts.intervalUs ?? 200}`, dst,
  ]).catch((e: { code?: number }) => {
    // hping3 exits 1 when nothing answered (UDP to a closed port): expected.
    if (e.code !== 1) throw e;
  });
}

/** Per-source packet counters of nft rules in chain `chain` (saddr -> packets). */
export function countersBySource(ruleset: unknown, chain: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const item of (ruleset as { nftables: Array<{ rule?: { chain: string; expr: Array<Record<string, any>> } }> }).nftables) {
    if (!item.rule || item.rule.chain !== chain) continue;
    let saddr: string | undefined;
    let packets: number | undefined;
    for (const e of item.rule.expr) {
      if (e.match?.left?.payload?.field === 'saddr') saddr = e.match.right;
      if (e.counter) packets = e.counter.packets;
    }
    if (saddr !== undefined && packets !== undefined) out.set(saddr, packets);
  }
  return out;
}

/**
 * Per-source nft counters in the lab's server namespace before conntrack
 * (raw, priority -300) and after it (-150): a packet conntrack drops for
 * want of room is counted by the first and not the second. The `ct state`
 * rule makes conntrack track this namespace at all. Returns a reader of the
 * counters: packets seen per source before conntrack, and lost to it.
 */
export async function countConntrackDrops(lab: Lab, sources: string[]): Promise<() => Promise<{ before: Map<string, number>; dropped: (addr: string) => number }>> {
  const counters = sources.map((a) => `ip saddr ${a} counter`).join('\n          ');
  await lab.nft(
    lab.server,
    `table inet lab {
        chain before { type filter hook prerouting priority -300;
          ${counters}
        }
        chain after { type filter hook prerouting priority -150;
          ${counters}
          ct state new counter
        }
      }`,
  );
  return async () => {
    const rules = await lab.nftJson(lab.server);
    const before = countersBySource(rules, 'before');
    const after = countersBySource(rules, 'after');
    return { before, dropped: (addr) => before.get(addr)! - after.get(addr)! };
  };
}

/** CTA_ID of every entry `conntrack -L -o id` lists (the low 32 bits of our ids). */
export function conntrackIds(lines: string[]): Set<number> {
  const ids = new Set<number>();
  for (const l of lines) {
    const m = / id=(\d+)/.exec(l);
    if (m) ids.add(Number(m[1]));
  }
  return ids;
}

/**
 * The reference reading of the stream for one namespace: ALLOC/SEEN/UPDATE
 * make an entry live (last seen = ts), DESTROY ends it, SYNC ends every live
 * entry of its netns not seen since its start_ns.
 */
export class ReferenceSink implements RecordSink {
  readonly live = new Map<bigint, number>();
  readonly kinds = new Map<number, number>();
  readonly allocBySource = new Map<string, number>();
  readonly destroyBySource = new Map<string, { n: number; withCounters: number; withStart: number; packets: number; user: number }>();
  readonly states = new Set<number>();
  syncs: { start: number; ts: number; cause: number; aux: number }[] = [];
  losses = 0;
  closedBySync = 0;
  ingested = 0;

  constructor(readonly netns: () => number) {}

  ingest(c: RecordColumns): void {
    const ns = this.netns();
    for (let i = 0; i < c.length; i++) {
      this.ingested++;
      if (c.netns[i] !== ns) continue;
      const k = c.kind[i]!;
      this.kinds.set(k, (this.kinds.get(k) ?? 0) + 1);
      const src = () => formatAddress(c.bytes, i * RECORD_SIZE + FIELDS.saddr.offset, c.family[i]!);
      switch (k) {
        case Kind.ALLOC:
          this.allocBySource.set(src(), (this.allocBySource.get(src()) ?? 0) + 1);
          this.live.set(c.id[i]!, c.ts[i]!);
          break;
        case Kind.SEEN:
        case Kind.UPDATE:
          if (k === Kind.UPDATE) this.states.add(c.state[i]!);
          this.live.set(c.id[i]!, c.ts[i]!);
          break;
        case Kind.DESTROY: {
          this.live.delete(c.id[i]!);
          const d = this.destroyBySource.get(src()) ?? { n: 0, withCounters: 0, withStart: 0, packets: 0, user: 0 };
          d.n++;
          if (c.flags[i]! & 0x04) d.withCounters++;
          if (c.flags[i]! & 0x08 && c.start[i]! > 0 && c.start[i]! <= c.ts[i]!) d.withStart++;
          d.packets += c.packets[i]!;
          if (c.cause[i] === 3) d.user++;
          this.destroyBySource.set(src(), d);
          break;
        }
        case Kind.LOSS:
          this.losses++;
          break;
        case Kind.SYNC:
          this.syncs.push({ start: c.start[i]!, ts: c.ts[i]!, cause: c.cause[i]!, aux: c.aux[i]! });
          for (const [id, seen] of this.live) {
            if (seen < c.start[i]!) {
              this.live.delete(id);
              this.closedBySync++;
            }
          }
          break;
      }
    }
  }

  /** CTA_IDs of the live set. */
  liveIds(): Set<number> {
    return new Set([...this.live.keys()].map((id) => Number(id & 0xffffffffn)));
  }
}

export async function until(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<number> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return Date.now() - t0;
}

export async function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await once(child, 'exit');
}
