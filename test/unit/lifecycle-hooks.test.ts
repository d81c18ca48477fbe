// Hook planning per capability (src/sources/lifecycle-hooks.ts) with a fake
// kernel: the order fentry -> kprobe -> ctnetlink, forced modes, and the
// reasons reported for each refusal.
import { describe, expect, it } from 'vitest';

import { explainRefusal, planLifecycleHooks, plannedPrograms, type HookProbe } from '../../src/sources/lifecycle-hooks.js';

function fakeKernel(opts: { fentryErrno?: number; kprobes?: boolean; btf?: string[]; syms?: string[]; refuse?: Record<string, number> }): HookProbe & { trials: string[] } {
  const trials: string[] = [];
  return {
    trials,
    hasBtfFunction: (name) => (opts.btf ?? ['__nf_conntrack_alloc', 'early_drop', 'nf_ct_delete', '__nf_conntrack_confirm', 'nf_ct_destroy']).includes(name),
    kprobes: () => (opts.kprobes === false ? { ok: false, why: 'no kprobes on this kernel' } : { ok: true }),
    hasSymbol: (name) => (opts.syms ?? ['__nf_conntrack_alloc', 'early_drop', 'nf_ct_delete', '__nf_conntrack_confirm', 'nf_ct_destroy']).includes(name),
    trial: (program) => {
      trials.push(program);
      const refused = opts.refuse?.[program] ?? (/^f[ex]_/.test(program) ? opts.fentryErrno : undefined);
      return refused ? { ok: false, errno: refused, message: 'refused' } : { ok: true, errno: 0, message: 'attached' };
    },
  };
}

const chosen = (plan: ReturnType<typeof planLifecycleHooks>) => Object.fromEntries(plan.map((c) => [c.capability, c.chosen]));

describe('planLifecycleHooks', () => {
  it('takes fentry/fexit for every capability where the kernel allows trampolines', () => {
    const k = fakeKernel({});
    const plan = planLifecycleHooks('auto', k);
    expect(chosen(plan)).toEqual({
      alloc: 'fexit:__nf_conntrack_alloc',
      table_full: 'fexit:__nf_conntrack_alloc',
      evict: 'fexit:early_drop',
      confirm: 'fexit:__nf_conntrack_confirm',
      destroy: 'fentry:nf_ct_destroy',
    });
    expect(plannedPrograms(plan)).toEqual(['fx_alloc', 'fe_early_drop', 'fx_early_drop', 'fe_ct_delete', 'fx_ct_delete', 'fx_confirm', 'fe_destroy']);
    // each program is trial-attached once even when two capabilities share it
    expect(k.trials.filter((p) => p === 'fx_alloc')).toHaveLength(1);
  });

  it('falls back to kprobes when trampolines are refused, saying why', () => {
    const plan = planLifecycleHooks('auto', fakeKernel({ fentryErrno: 1 }));
    expect(chosen(plan).alloc).toBe('kprobe:__nf_conntrack_alloc');
    expect(chosen(plan).destroy).toBe('kprobe:nf_ct_destroy');
    const alloc = plan.find((c) => c.capability === 'alloc')!;
    expect(alloc.tried[0]).toMatchObject({ hook: 'fexit:__nf_conntrack_alloc', ok: false, errno: 1 });
    expect(alloc.tried[0]!.result).toBe('EPERM: the kernel refuses trampolines (fentry/fexit)');
  });

  it('this machine: no trampolines, no kprobes -> ctnetlink, with table_full and evict blind', () => {
    const plan = planLifecycleHooks('auto', fakeKernel({ fentryErrno: 1, kprobes: false }));
    expect(chosen(plan)).toEqual({ alloc: 'ctnetlink', table_full: null, evict: null, confirm: 'ctnetlink', destroy: 'ctnetlink' });
    expect(plannedPrograms(plan)).toEqual([]);
    const alloc = plan.find((c) => c.capability === 'alloc')!;
    expect(alloc.tried.map((t) => t.hook)).toEqual(['fexit:__nf_conntrack_alloc', 'kprobe:__nf_conntrack_alloc', 'ctnetlink']);
    expect(alloc.tried[1]!.result).toBe('no kprobes on this kernel');
  });

  it('an inlined function is refused from BTF without a trial, and the next candidate is taken', () => {
    const k = fakeKernel({ btf: ['__nf_conntrack_alloc', 'early_drop', 'nf_ct_delete', '__nf_conntrack_confirm', 'destroy_conntrack'] });
    const plan = planLifecycleHooks('auto', k);
    const destroy = plan.find((c) => c.capability === 'destroy')!;
    expect(destroy.chosen).toBe('fentry:destroy_conntrack');
    expect(destroy.tried[0]!.result).toMatch(/^ESRCH: nf_ct_destroy is not in the kernel's BTF/);
    expect(k.trials).not.toContain('fe_destroy');
  });

  it('forced modes try only their kind; netlink tries nothing', () => {
    const k = fakeKernel({ fentryErrno: 1 });
    const f = planLifecycleHooks('fentry', k);
    expect(chosen(f).alloc).toBe('ctnetlink');
    expect(f.flatMap((c) => c.tried.map((t) => t.hook)).some((h) => h.startsWith('kprobe'))).toBe(false);
    const kp = planLifecycleHooks('kprobe', fakeKernel({}));
    expect(chosen(kp).alloc).toBe('kprobe:__nf_conntrack_alloc');
    const n = fakeKernel({});
    expect(chosen(planLifecycleHooks('netlink', n)).alloc).toBe('ctnetlink');
    expect(n.trials).toEqual([]);
    expect(() => planLifecycleHooks('bogus' as never, n)).toThrow(/hooks must be one of auto, fentry, kprobe, netlink/);
  });

  it('evict and table_full need the allocation hook', () => {
    const plan = planLifecycleHooks('auto', fakeKernel({ kprobes: false, refuse: { fx_alloc: 1 } }));
    expect(chosen(plan).alloc).toBe('ctnetlink');
    expect(chosen(plan).evict).toBeNull();
    expect(plan.find((c) => c.capability === 'evict')!.tried.map((t) => t.result)).toContain('needs an allocation hook, which this kernel refused');
  });
});

describe('explainRefusal', () => {
  it.each([
    ['fentry', 1, 'EPERM: the kernel refuses trampolines (fentry/fexit)'],
    ['kprobe', 2, 'ENOENT: no such symbol to probe (inlined or renamed)'],
    ['fentry', 3, "ESRCH: not in the kernel's BTF (inlined or renamed)"],
    ['tp_btf', 95, 'EOPNOTSUPP: this kernel cannot attach this program type here'],
  ] as const)('%s errno %d', (kind, errno, text) => {
    expect(explainRefusal(kind, errno)).toBe(text);
  });

  it('names the verifier complaint', () => {
    expect(explainRefusal('fentry', 13, 'x\nR2 bitwise operator ^= on pointer prohibited\n')).toBe(
      'EACCES: the verifier rejected the program (R2 bitwise operator ^= on pointer prohibited)',
    );
  });
});
