// Drop reasons come from the kernel's BTF enum by name, not a table: the
// selection must take every netfilter/conntrack reason and nothing else.
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';

import { DropSource, MAX_DROP_REASONS, netfilterDropReasons, selectNetfilterReasons } from '../../src/sources/bpf-drops.js';
import { isBpfLoadError, ringSourceClass } from '../../src/sources/bpf-ring.js';
import { all, built, cannotRun } from '../helpers/requires.js';

describe('selectNetfilterReasons', () => {
  const cases: Array<{ name: string; in: Record<string, number>; out: Record<number, string> }> = [
    {
      name: 'Linux 6.18: only NETFILTER_DROP',
      in: {
        SKB_NOT_DROPPED_YET: 0,
        SKB_DROP_REASON_NOT_SPECIFIED: 2,
        SKB_DROP_REASON_NETFILTER_DROP: 12,
        SKB_DROP_REASON_CANFD_RX_INVALID_FRAME: 121,
        SKB_DROP_REASON_MAX: 128,
        SKB_DROP_REASON_SUBSYS_MASK: 4294901760,
      },
      out: { 12: 'SKB_DROP_REASON_NETFILTER_DROP' },
    },
    {
      name: 'NF_, NFT and CONNTRACK as whole words',
      in: {
        SKB_DROP_REASON_NF_CONNTRACK_TABLE_FULL: 200,
        SKB_DROP_REASON_NFT_RULE: 201,
        SKB_DROP_REASON_CONNTRACK_INVALID: 202,
        SKB_DROP_REASON_NFQUEUE_FULL: 203,
        SKB_DROP_REASON_IP_CONF_ERR: 204, // "CONF_" contains "NF_" but is no netfilter word
        SKB_DROP_REASON_NFC_X: 205,
      },
      out: {
        200: 'SKB_DROP_REASON_NF_CONNTRACK_TABLE_FULL',
        201: 'SKB_DROP_REASON_NFT_RULE',
        202: 'SKB_DROP_REASON_CONNTRACK_INVALID',
        203: 'SKB_DROP_REASON_NFQUEUE_FULL',
      },
    },
    {
      name: 'subsystem reasons (upper 16 bits) do not fit the reasons map',
      in: { SKB_DROP_REASON_NF_SUBSYS_THING: 0x50001 },
      out: {},
    },
    { name: 'empty enum', in: {}, out: {} },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(selectNetfilterReasons(c.in)).toEqual(c.out);
    });
  }

  it('never returns a reason outside the BPF map', () => {
    const many: Record<string, number> = {};
    for (let i = 0; i < 3000; i += 7) many[`SKB_DROP_REASON_NF_${i}`] = i;
    for (const k of Object.keys(selectNetfilterReasons(many))) expect(Number(k)).toBeLessThan(MAX_DROP_REASONS);
  });
});

const noBtf = cannotRun(all({ ok: fs.existsSync('/sys/kernel/btf/vmlinux'), kind: 'machine', why: 'this kernel has no BTF (/sys/kernel/btf/vmlinux)' }, built()));

describe.skipIf(noBtf)('netfilterDropReasons on this kernel', () => {
  it('names NETFILTER_DROP with the number the kernel uses', () => {
    const reasons = netfilterDropReasons();
    const entry = Object.entries(reasons).find(([, n]) => n === 'SKB_DROP_REASON_NETFILTER_DROP');
    expect(entry).toBeDefined();
    // the number differs between kernels: read from BTF, never hard-coded
    expect(Number(entry![0])).toBeGreaterThan(0);
  });
});

describe('DropSource options', () => {
  it('rejects a poll period outside 1..5 ms', () => {
    expect(() => new DropSource({ pollMs: 0 })).toThrow(/pollMs/);
    expect(() => new DropSource({ pollMs: 6 })).toThrow(/pollMs/);
  });
  it('rejects a ring size that is not a power of two', () => {
    expect(() => new DropSource({ ringBytes: 3 << 20 })).toThrow(/ringBytes/);
  });
  it('rejects a wakeup threshold above the ring size', () => {
    expect(() => new DropSource({ ringBytes: 1 << 20, wakeupBytes: 2 << 20 })).toThrow(/wakeupBytes/);
  });
  it('reports stopped with its hook before start', () => {
    const s = new DropSource().status();
    expect(s).toMatchObject({ name: 'drops', state: 'stopped', hook: 'tp_btf:kfree_skb', records: 0, lost: { total: 0 } });
  });
});

const noAddon = cannotRun(built());

describe.skipIf(noAddon)('RingSource argument checks (no privilege needed)', () => {
  const onBatch = () => undefined;
  const cases: Array<{ name: string; opts: unknown; error: RegExp }> = [
    { name: 'no options', opts: undefined, error: /new RingSource\(options\)/ },
    { name: 'no object', opts: { onBatch }, error: /options\.object/ },
    { name: 'programs not strings', opts: { object: '/x.o', programs: [1], onBatch }, error: /options\.programs/ },
    { name: 'poll period 0', opts: { object: '/x.o', pollMs: 0, onBatch }, error: /options\.pollMs/ },
    { name: 'fractional batch size', opts: { object: '/x.o', batchRecords: 1.5, onBatch }, error: /options\.batchRecords/ },
    { name: 'ring not a power of two', opts: { object: '/x.o', ringBytes: 12288, onBatch }, error: /options\.ringBytes/ },
    { name: 'maps not an object', opts: { object: '/x.o', maps: 3, onBatch }, error: /options\.maps/ },
    { name: 'no onBatch', opts: { object: '/x.o' }, error: /options\.onBatch/ },
  ];
  for (const c of cases) {
    it(`throws TypeError: ${c.name}`, () => {
      const RingSource = ringSourceClass() as unknown as new (o: unknown) => unknown;
      expect(() => new RingSource(c.opts)).toThrow(TypeError);
      expect(() => new RingSource(c.opts)).toThrow(c.error);
    });
  }

  it('a missing object is a load error naming the path and how to build it', () => {
    const rs = new (ringSourceClass())({ object: '/nonexistent/x.bpf.o', onBatch });
    let err: unknown;
    try {
      rs.start();
    } catch (e) {
      err = e;
    }
    expect(isBpfLoadError(err)).toBe(true);
    expect((err as Error).message).toMatch(/\/nonexistent\/x\.bpf\.o.*make -s bpf/);
    expect(err).toMatchObject({ code: 'EBPFLOAD', errno: 2, program: null });
    rs.stop(); // stop after a failed start is harmless
  });

  it('probe() reports instead of throwing', () => {
    expect(ringSourceClass().probe('/nonexistent/x.bpf.o', 'p')).toMatchObject({ ok: false, errno: 2 });
  });
});
