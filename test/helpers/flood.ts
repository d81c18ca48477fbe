// A table-full flood in a lab namespace and the kernel's own count of whose
// packets it dropped, for every test that checks a running daemon's /v1/drops
// against the kernel (the clone's daemon, the installed package, the daemon
// with only its capabilities, the image in a CRI pod).
//
// nft counts packets per source before conntrack (raw, priority -300) and
// after it (-150): a packet conntrack drops for want of room is counted by the
// first and not the second. The `ct state` rule makes conntrack track the
// namespace at all.

import { expect } from 'vitest';
import { countersBySource } from '../kernel/netlink-lab.js';
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
  ) {}

  /** The counting rules; call before the daemon starts so it follows the namespace from the first packet. */
  static async prepare(lab: Lab): Promise<TableFullFlood> {
    const flooder = lab.clientAddress;
    const other = await lab.addClientAddress(7);
    await lab.nft(
      lab.server,
      `table inet lab {
        chain before { type filter hook prerouting priority -300;
          ip saddr ${flooder} counter
          ip saddr ${other} counter
        }
        chain after { type filter hook prerouting priority -150;
          ip saddr ${flooder} counter
          ip saddr ${other} counter
          ct state new counter
        }
      }`,
    );
    return new TableFullFlood(lab, flooder, other);
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
    const rules = await lab.nftJson(lab.server);
    const before = countersBySource(rules, 'before');
    const after = countersBySource(rules, 'after');
    for (const a of [this.flooder, this.other]) {
      this.dropped.set(a, before.get(a)! - after.get(a)!);
      this.arrived.set(a, before.get(a)!);
    }
    this.statDrops = (await lab.conntrackStats(lab.server)).drop! - this.statDropBefore;
    expect(before.get(this.flooder)).toBe(4001);
    expect(this.dropped.get(this.flooder)).toBeGreaterThan(1000); // the table really filled
    expect(this.dropped.get(this.flooder)! + this.dropped.get(this.other)!).toBe(this.statDrops);
  }

  /** The daemon's /v1/drops names the flooder first with the kernel's count, and the other source with its own. */
  async expectAttributed(get: (p: string) => Promise<any>): Promise<void> {
    // Newest data is visible within 1 s.
    await new Promise((r) => setTimeout(r, 1000));
    const drops = await get('/v1/drops?by=src&window=300&limit=10');
    const items = drops.items as Array<{ key: string; count: number }>;
    expect(items[0]!.key).toBe(this.flooder);
    expect(items[0]!.count).toBe(this.dropped.get(this.flooder));
    expect(items.find((i) => i.key === this.other)?.count ?? 0).toBe(this.dropped.get(this.other));
  }
}
