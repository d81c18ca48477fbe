// A table-full flood in a lab namespace and the kernel's own count of whose
// packets it dropped, for every test that checks a running daemon's /v1/drops
// against the kernel (the clone's daemon, the installed package, the daemon
// with only its capabilities, the image in a CRI pod).
//
// The counts are nft's per source before and after conntrack
// (countConntrackDrops): a packet conntrack drops for want of room is counted
// by the first and not the second.

import { expect } from 'vitest';
import { countConntrackDrops } from '../kernel/netlink-lab.js';
import type { Lab } from './lab.js';

export class TableFullFlood {
  /** Packets conntrack dropped per source (nft before − after), after run(). */
  readonly dropped = new Map<string, number>();
  /** Packets that reached the server namespace per source (nft before conntrack), after run(). */
  readonly arrived = new Map<string, number>();
  /** The drop column of /proc/net/stat/nf_conntrack grew by this much. */
  statDrops = 0;
  statDropBefore = 0;

  private constructor(
    readonly lab: Lab,
    readonly flooder: string,
    readonly other: string,
    private readonly counters: Awaited<ReturnType<typeof countConntrackDrops>>,
  ) {}

  /** The counting rules; call before the daemon starts so it follows the namespace from the first packet. */
  static async prepare(lab: Lab): Promise<TableFullFlood> {
    const flooder = lab.clientAddress;
    const other = await lab.addClientAddress(7);
    return new TableFullFlood(lab, flooder, other, await countConntrackDrops(lab, [flooder, other]));
  }

  /**
   * Lower the table to 331 entries and send 4,001 new UDP flows from one
   * source (hping3 increments the source port per packet), a few dozen from
   * another in the middle of it. Checks the kernel's side: the table really
   * filled, and nft's per-source drops add up to conntrack's own drop count.
   */
  async run(): Promise<void> {
    const lab = this.lab;
    this.statDropBefore = (await lab.conntrackStats(lab.server)).drop!;
    lab.setConntrackMax(331);
    const flood = lab
      .exec(lab.client, ['hping3', '--udp', '-q', '-p', '9', '-i', 'u150', '-c', '4001', '-a', this.flooder, lab.serverAddress], { timeoutMs: 60_000 })
      .catch((e) => e);
    await new Promise((r) => setTimeout(r, 300));
    await lab.exec(lab.client, ['hping3', '--udp', '-q', '-p', '53', '-i', 'u2000', '-c', '37', '-a', this.other, lab.serverAddress]).catch((e) => e);
    await flood;
    const { before, dropped } = await this.counters();
    for (const a of [this.flooder, this.other]) {
      this.dropped.set(a, dropped(a));
      this.arrived.set(a, before.get(a)!);
    }
    this.statDrops = (await lab.conntrackStats(lab.server)).drop! - this.statDropBefore;
    expect(before.get(this.flooder)).toBe(4001);
    expect(this.dropped.get(this.flooder)).toBeGreaterThan(1000); // the table really filled
    expect(this.dropped.get(this.flooder)! + this.dropped.get(this.other)!).toBe(this.statDrops);
  }

  /** The daemon's /v1/drops names the flooder first with the kernel's count, and the other source with its own. */
  async expectAttributed(get: (p: string) => Promise<any>): Promise<void> {
    // Newest data is visible within about a second; on a machine busy with
    // other suites the daemon's thread may run later, so wait (up to 15 s) for
    // the kernel's total to be reached — then the counts must be exact.
    const want = this.dropped.get(this.flooder)! + this.dropped.get(this.other)!;
    let items: Array<{ key: string; count: number }> = [];
    for (const deadline = Date.now() + 15_000; ; ) {
      await new Promise((r) => setTimeout(r, 1000));
      items = (await get('/v1/drops?by=src&window=300&limit=10')).items;
      if (items.reduce((n, i) => n + i.count, 0) >= want || Date.now() > deadline) break;
    }
    const lost = JSON.stringify((await get('/v1/status')).lost);
    expect(items[0]!.key).toBe(this.flooder);
    expect(items[0]!.count, `the daemon's lost records: ${lost}`).toBe(this.dropped.get(this.flooder));
    expect(items.find((i) => i.key === this.other)?.count ?? 0).toBe(this.dropped.get(this.other));
  }
}
