// Issue 18: the ctnetlink events decoded in the kernel (bpf/netlink_decode.bpf.c
// into a ring per reader) against the reader's own parser of the same
// events as datagrams. Two sources follow the same lab namespace at once,
// one with the decoder and one without; for every conntrack event the lab
// makes (UDP flows, TCP connections over IPv4 and IPv6 with their state
// changes, an operator's deletes, a flush) both must deliver the same
// record — tuples, status, mark, zone, TCP state, counters, start time,
// cause, id — and for every entry the same sequence of kinds. Then again
// with a ring too small for the burst, so that the decoder hands events to
// the socket and back: nothing lost, nothing out of order.
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, kernelTier } from '../helpers/lab.js';
import { NetlinkSource } from '../../src/sources/netlink.js';
import { loadNetlinkFilter, type NetlinkFilter } from '../../src/sources/netlink-filter.js';
import type { RecordColumns } from '../../src/records/batch.js';
import type { RecordSink } from '../../src/records/sink.js';
import { formatAddress } from '../../src/records/address.js';
import { FIELDS, Kind, RECORD_SIZE } from '../../src/records/layout.js';
import { holdKernelLock, tcpClients, tcpServer, udpFlows, until } from './netlink-lab.js';
import { cannotRun } from '../helpers/requires.js';

const tier = kernelTier();
const skip = cannotRun(tier);

const PORT = 8080;
const EVENT_KINDS = new Set<number>([Kind.ALLOC, Kind.UPDATE, Kind.DESTROY]);

/** Every event record of one namespace: what it says (times apart), and each entry's kinds in order. */
class EventLog implements RecordSink {
  readonly records = new Map<string, number>();
  readonly kindsById = new Map<bigint, number[]>();
  readonly startById = new Map<bigint, number>();
  events = 0;
  losses = 0;

  constructor(private readonly netns: () => number) {}

  ingest(c: RecordColumns): void {
    const ns = this.netns();
    for (let i = 0; i < c.length; i++) {
      if (c.netns[i] !== ns) continue;
      const k = c.kind[i]!;
      if (k === Kind.LOSS) this.losses++;
      if (!EVENT_KINDS.has(k)) continue;
      this.events++;
      const fam = c.family[i]!;
      const addr = (f: keyof typeof FIELDS) => formatAddress(c.bytes, i * RECORD_SIZE + FIELDS[f].offset, fam);
      const key = [
        k, c.id[i], fam, c.proto[i], addr('saddr'), c.sport[i], addr('daddr'), c.dport[i],
        addr('rsaddr'), c.rsport[i], addr('rdaddr'), c.rdport[i], c.status[i], c.mark[i], c.zone[i],
        c.state[i], c.packets[i], c.byteCount[i], c.flags[i], c.cause[i], c.icmpType[i], c.icmpCode[i],
        // the timeout moves on between two events of an entry, not between two readers
        k === Kind.DESTROY ? 0 : c.aux[i],
      ].join(' ');
      this.records.set(key, (this.records.get(key) ?? 0) + 1);
      const seq = this.kindsById.get(c.id[i]!) ?? [];
      seq.push(k);
      this.kindsById.set(c.id[i]!, seq);
      if (k === Kind.DESTROY && c.flags[i]! & 0x08) this.startById.set(c.id[i]!, c.start[i]!);
    }
  }
}

describe.skipIf(skip)('ctnetlink events decoded in the kernel', () => {
  let release: () => void = () => undefined;
  let lab: Lab;
  let filter: NetlinkFilter;
  const children: ChildProcess[] = [];
  let serverNs = 0;
  let udpSrc: string, tcpSrc: string;

  beforeAll(async () => {
    release = await holdKernelLock();
    lab = await Lab.create('ctnld');
    udpSrc = await lab.addClientAddress(21);
    tcpSrc = await lab.addClientAddress(22);
    // conntrack runs in a namespace once a rule needs it
    await lab.nft(lab.server, `table inet ctstest {\n  chain pre {\n    type filter hook prerouting priority 0;\n    ct state new counter\n  }\n}\n`);
    await lab.exec(lab.server, ['sysctl', '-qw', 'net.netfilter.nf_conntrack_acct=1', 'net.netfilter.nf_conntrack_timestamp=1']);
    serverNs = lab.netnsInode(lab.server);
    filter = loadNetlinkFilter();
    children.push(await tcpServer(lab.server, lab.serverAddress, PORT));
    children.push(await tcpServer(lab.server, lab.serverAddress6, PORT));
  }, 120_000);

  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    filter?.close();
    await lab?.destroy();
    release();
  });

  /** The same lab traffic seen by a decoding source and a parsing one. */
  async function both(ringBytes: number | undefined, udp: number, tcp: number) {
    const decoded = new EventLog(() => serverNs);
    const parsed = new EventLog(() => serverNs);
    const include = (ns: { inode: number }) => ns.inode === serverNs;
    const withDecoder = new NetlinkSource({ include, processes: false, filter, decoder: () => filter.decoder(ringBytes) });
    const plain = new NetlinkSource({ include, processes: false });
    await withDecoder.start(decoded);
    await plain.start(parsed);
    try {
      const port0 = 20000 + Math.floor(Math.random() * 20000);
      await Promise.all([
        udpFlows((ns, a) => lab.exec(ns, a), lab.client, udpSrc, lab.serverAddress, udp, { intervalUs: 10, basePort: port0 }),
        tcpClients(lab.client, tcpSrc, lab.serverAddress, PORT, tcp, { parallel: 16 }),
        tcpClients(lab.client, lab.clientAddress6, lab.serverAddress6, PORT, 17, { parallel: 4 }),
      ]);
      // an operator's deletes (cause USER), then everything else at once
      await lab.exec(lab.server, ['conntrack', '-D', '-s', tcpSrc]).catch(() => undefined);
      await lab.exec(lab.server, ['conntrack', '-F']).catch(() => undefined);
      await until(() => parsed.events > 0 && decoded.events === parsed.events, 10_000, 'both sources to deliver every event').catch(() => 0);
      await new Promise((r) => setTimeout(r, 300)); // anything extra would show now
      const stats = withDecoder.status().namespaces[0]!.stats!;
      return { decoded, parsed, stats, lostDecoded: withDecoder.status().lost, lostParsed: plain.status().lost };
    } finally {
      await withDecoder.stop();
      await plain.stop();
    }
  }

  function expectSame(decoded: EventLog, parsed: EventLog): void {
    // every record the same, as many times
    const missing = [...parsed.records].filter(([k, n]) => decoded.records.get(k) !== n).slice(0, 5);
    const extra = [...decoded.records].filter(([k, n]) => parsed.records.get(k) !== n).slice(0, 5);
    expect({ missing, extra }).toEqual({ missing: [], extra: [] });
    // every entry's story in the same order
    let differ = 0;
    for (const [id, seq] of parsed.kindsById) if (decoded.kindsById.get(id)?.join() !== seq.join()) differ++;
    expect(differ).toBe(0);
    expect(decoded.kindsById.size).toBe(parsed.kindsById.size);
    // start times converted from the kernel's wall clock the same way (the
    // two readers read the clocks at different moments: within a millisecond)
    let far = 0;
    for (const [id, s] of parsed.startById) if (Math.abs((decoded.startById.get(id) ?? 0) - s) > 1e6) far++;
    expect(far).toBe(0);
  }

  it('delivers the records the reader parses from datagrams, through the ring', async () => {
    const r = await both(undefined, 3001, 97);
    expect(r.parsed.events).toBeGreaterThan(3001 + 2 * 97);
    expectSame(r.decoded, r.parsed);
    // all of them from the ring, nothing lost on either side
    expect(r.stats.decoded).toBe(r.stats.events);
    expect(r.lostDecoded.total + r.lostParsed.total + r.decoded.losses + r.parsed.losses).toBe(0);
    // the UPDATEs carry the TCP state machine, the DESTROYs counters and users
    expect(r.parsed.records.size).toBeGreaterThan(0);
    console.info(`decoded ${r.stats.decoded} of ${r.stats.events} events through the ring; records equal the parser's`);
  }, 120_000);

  it('falls back on the socket when the ring is full, in order, nothing lost', async () => {
    // 4 KiB: ~24 records; the burst overfills it again and again
    const r = await both(4096, 6007, 31);
    expectSame(r.decoded, r.parsed);
    expect(r.stats.decoded).toBeGreaterThan(0);
    expect(r.stats.decoded).toBeLessThan(r.stats.events); // some came as datagrams
    expect(r.lostDecoded.total + r.lostParsed.total + r.decoded.losses + r.parsed.losses).toBe(0);
    console.info(`small ring: ${r.stats.decoded} of ${r.stats.events} events through the ring, the rest diverted to the socket; records and order equal the parser's`);
  }, 120_000);
});
