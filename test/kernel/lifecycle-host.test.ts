// The lifecycle source and `ctscope doctor` on THIS machine's kernel, which
// refuses fentry/fexit (EPERM) and has no kprobes (docs/ARCHITECTURE.md): the source must
// not pretend — it reports the ctnetlink fallback per capability, with the
// kernel's reason for each refusal, and names what nobody can see. On a
// kernel that allows trampolines the same checks assert the fentry choice
// instead (the guest tier proves that path on Debian's kernel).

import fs from 'node:fs';
import { describe, expect, it } from 'vitest';

import { kernelTier } from '../helpers/lab.js';
import { collectDoctorReport } from '../../src/doctor/probe.js';
import { LifecycleSource } from '../../src/sources/lifecycle.js';
import { kernelHookProbe } from '../../src/sources/lifecycle-hooks.js';

import { all, built, cannotRun } from '../helpers/requires.js';

const skip = cannotRun(all(kernelTier(), built('lifecycle')));

// What this kernel does with a trampoline, asked directly (not through the code under test's planner).
const trampolines = !skip && kernelHookProbe().trial('fx_alloc').ok;
const kprobes = fs.existsSync('/sys/bus/event_source/devices/kprobe');

describe.skipIf(skip)('lifecycle source on this kernel', () => {
  it('auto: takes the best hook each capability allows and names the rest as blind spots', async () => {
    const src = new LifecycleSource({ idKey: new Uint8Array(16) });
    const sink = { ingest: () => {} };
    await src.start(sink);
    try {
      const caps = Object.fromEntries(src.capabilities().map((c) => [c.capability, c]));
      if (!trampolines && !kprobes) {
        expect(src.status().state).toBe('unavailable');
        expect(src.netlinkCapabilities()).toEqual(['alloc', 'confirm', 'destroy']);
        expect(caps.alloc!.chosen).toBe('ctnetlink');
        expect(caps.alloc!.tried[0]).toMatchObject({ hook: 'fexit:__nf_conntrack_alloc', ok: false, errno: 1 });
        expect(caps.alloc!.tried[0]!.result).toBe('EPERM: the kernel refuses trampolines (fentry/fexit)');
        expect(caps.alloc!.tried[1]!.result).toMatch(/no kprobes/);
        expect(caps.table_full!.chosen).toBeNull();
        expect(caps.evict!.chosen).toBeNull();
        expect(src.blindSpots().join('\n')).toMatch(/table_full: .*refused when the table is full/);
        expect(src.blindSpots().join('\n')).toMatch(/evict: .*early_drop evicted/);
        expect(src.status().detail).toMatch(/EPERM/);
      } else {
        expect(caps.alloc!.chosen).toMatch(trampolines ? /^fexit:/ : /^kprobe:/);
        expect(src.status().state).toBe('running');
      }
    } finally {
      await src.stop();
    }
  });

  // A skip here would fail the run on a kernel that allows trampolines: the
  // test asserts what --hooks fentry must do on either kind of kernel.
  it('--hooks fentry: attaches fexit where the kernel allows trampolines, else nothing, with the reason', async () => {
    const src = new LifecycleSource({ hooks: 'fentry', idKey: new Uint8Array(16) });
    await src.start({ ingest: () => {} });
    if (trampolines) {
      expect(src.status().state).toBe('running');
      expect(src.capabilities().find((c) => c.capability === 'alloc')?.chosen).toBe('fexit:__nf_conntrack_alloc');
    } else {
      expect(src.status().state).toBe('unavailable');
      expect(src.status().detail).toMatch(/fexit:__nf_conntrack_alloc → EPERM: the kernel refuses trampolines/);
    }
    expect(src.capabilities().flatMap((c) => c.tried.map((t) => t.hook)).some((h) => h.startsWith('kprobe'))).toBe(false);
    await src.stop();
  });

  it('--hooks netlink loads nothing', async () => {
    const src = new LifecycleSource({ hooks: 'netlink' });
    await src.start({ ingest: () => {} });
    expect(src.status()).toMatchObject({ state: 'unavailable', hook: null, detail: 'hooks forced to netlink' });
    expect(src.netlinkCapabilities()).toEqual(['alloc', 'confirm', 'destroy']);
  });

  it('rejects a bad hook mode with a message naming the choices', () => {
    expect(() => new LifecycleSource({ hooks: 'ebpf' as never })).toThrow("hooks must be one of auto, fentry, kprobe, netlink, got 'ebpf'");
  });

  it('ctscope doctor: alloc -> ctnetlink with the EPERM reason, drops -> tp_btf:kfree_skb', () => {
    const r = collectDoctorReport();
    expect(r.kernel.release).toBe(fs.readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim());
    expect(r.kernel.btf.vmlinux).toBe(true);
    const cap = Object.fromEntries(r.capabilities.map((c) => [c.capability, c]));
    expect(Object.keys(cap)).toEqual(['alloc', 'table_full', 'evict', 'confirm', 'destroy', 'drops', 'ingress']);
    if (!trampolines && !kprobes) {
      expect(cap.alloc!.chosen).toBe('ctnetlink');
      expect(cap.alloc!.tried[0]).toEqual({ hook: 'fexit:__nf_conntrack_alloc', result: 'EPERM: the kernel refuses trampolines (fentry/fexit)' });
      expect(r.features.fentry).toMatch(/^EPERM/);
      expect(r.features.kprobe).toMatch(/no kprobes/);
    }
    expect(cap.drops!.chosen).toBe('tp_btf:kfree_skb');
    expect(r.features.tpBtf).toBe('ok');
    expect(r.conntrack.nf_conntrack_max).toBe(Number(fs.readFileSync('/proc/sys/net/netfilter/nf_conntrack_max', 'utf8')));
  });
});
