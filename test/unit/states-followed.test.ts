// Which feeds carry live entries' state changes (src/app/states-followed.ts):
// the model is told, and the SYN-flood rule reads established entries only
// where they are facts (test/unit/ingress-arrivals.test.ts).
import { describe, expect, it } from 'vitest';
import { statesFollowed, type SourceHook } from '../../src/app/states-followed.js';

const lifecycle = (state: string, hook: string | null): SourceHook => ({ name: 'lifecycle', state, hook });
const netlink = (state: string): SourceHook => ({ name: 'netlink', state, hook: 'ctnetlink' });
const drops: SourceHook = { name: 'drops', state: 'running', hook: 'tp_btf:kfree_skb' };

describe('statesFollowed', () => {
  it.each<[string, SourceHook[], boolean]>([
    ['ctnetlink follows entries (this kernel: no eBPF lifecycle hook)', [lifecycle('unavailable', null), netlink('running'), drops], true],
    ['eBPF lifecycle hooks alone (fentry/kprobe kernels)', [lifecycle('running', 'alloc=fexit:__nf_conntrack_alloc,destroy=fentry:nf_ct_destroy'), drops], false],
    ['the hooks for some capabilities and ctnetlink for the rest', [lifecycle('running', 'alloc=fexit:__nf_conntrack_alloc'), netlink('running')], true],
    ['hooks forced to netlink', [lifecycle('stopped', null), netlink('degraded')], true],
    ['a ctnetlink source that failed leaves the hooks alone', [lifecycle('running', 'alloc=kprobe:__nf_conntrack_alloc'), netlink('failed')], false],
    ['a replay of a capture recorded with the hooks (its sources listed as stopped)', [{ name: 'replay', state: 'running', hook: null }, lifecycle('stopped', 'alloc=fexit:__nf_conntrack_alloc')], false],
    ['a replay of a ctnetlink recording', [{ name: 'replay', state: 'running', hook: null }, lifecycle('stopped', null), netlink('stopped')], true],
    ['a text import (conntrack -E / -L: states in every line)', [{ name: 'replay', state: 'running', hook: null }], true],
    ['nothing at all', [], true],
  ])('%s', (_what, sources, want) => {
    expect(statesFollowed(sources)).toBe(want);
  });
});
