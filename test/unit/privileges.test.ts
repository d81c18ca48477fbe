// The capability model behind doctor's privilege section and the refusal
// messages (src/privileges.ts): CapEff parsing, the kernel's "CAP_SYS_ADMIN
// also grants BPF and PERFMON" rule, and which capability a refusal names.
import { describe, expect, it } from 'vitest';
import { capabilityReport, DAEMON_CAPABILITIES, effectiveCapabilities, explainPermission, missingFor, REQUIRES, type CapabilityName } from '../../src/privileges.js';
import { explainRefusal } from '../../src/sources/lifecycle-hooks.js';

const caps = (...c: CapabilityName[]) => new Set<CapabilityName>(c);

describe('effectiveCapabilities', () => {
  it.each([
    ['0000000000000000', []],
    ['000000c000000000', ['CAP_PERFMON', 'CAP_BPF']],
    ['000000c000281000', ['CAP_NET_ADMIN', 'CAP_SYS_PTRACE', 'CAP_SYS_ADMIN', 'CAP_PERFMON', 'CAP_BPF']],
    ['000001ffffffffff', ['CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_NET_ADMIN', 'CAP_IPC_LOCK', 'CAP_SYS_PTRACE', 'CAP_SYS_ADMIN', 'CAP_SYS_RESOURCE', 'CAP_SYSLOG', 'CAP_PERFMON', 'CAP_BPF']],
  ])('CapEff %s', (hex, names) => {
    expect([...effectiveCapabilities(`Name:\tnode\nCapInh:\t0000000000000000\nCapEff:\t${hex}\n`)].sort()).toEqual([...names].sort());
  });
  it('is empty without a CapEff line', () => expect(effectiveCapabilities('Name: x\n').size).toBe(0));
});

describe('missingFor', () => {
  it.each([
    [REQUIRES.tracingProgram, caps('CAP_BPF', 'CAP_PERFMON'), []],
    [REQUIRES.tracingProgram, caps('CAP_SYS_ADMIN'), []],
    [REQUIRES.tracingProgram, caps('CAP_BPF'), ['CAP_PERFMON']],
    [REQUIRES.tracingProgram, caps(), ['CAP_BPF', 'CAP_PERFMON']],
    [REQUIRES.networkProgram, caps('CAP_BPF', 'CAP_NET_ADMIN'), []],
    [REQUIRES.networkProgram, caps('CAP_BPF', 'CAP_PERFMON'), ['CAP_NET_ADMIN']],
    [REQUIRES.ctnetlink, caps('CAP_SYS_ADMIN'), ['CAP_NET_ADMIN']],
    [REQUIRES.setns, caps('CAP_NET_ADMIN'), ['CAP_SYS_ADMIN']],
  ])('%j with %j', (req, held, missing) => expect(missingFor(req, held)).toEqual(missing));
});

describe('capabilityReport', () => {
  it('costs nothing for CAP_BPF and CAP_PERFMON while CAP_SYS_ADMIN is held, and names the loss otherwise', () => {
    const withAdmin = capabilityReport(caps('CAP_NET_ADMIN', 'CAP_SYS_ADMIN', 'CAP_SYS_PTRACE'));
    expect(withAdmin.find((n) => n.capability === 'CAP_BPF')).toMatchObject({ held: false, missing: null, covered_by: 'CAP_SYS_ADMIN' });
    const without = capabilityReport(caps('CAP_NET_ADMIN'));
    expect(without.find((n) => n.capability === 'CAP_BPF')!.missing).toMatch(/^no eBPF/);
    expect(without.find((n) => n.capability === 'CAP_NET_ADMIN')).toMatchObject({ held: true, missing: null });
    expect(without.map((n) => n.capability)).toEqual(DAEMON_CAPABILITIES);
  });
});

describe('refusals name the missing capability', () => {
  it.each([
    ['setns /run/netns/x: Operation not permitted', caps('CAP_NET_ADMIN'), /entering another network namespace needs CAP_SYS_ADMIN, which this process lacks\)$/],
    ['open /proc/42/ns/net: Permission denied', caps('CAP_SYS_ADMIN'), /needs CAP_SYS_PTRACE, which this process lacks\)$/],
    ['ctnetlink: bind ctnetlink groups: Operation not permitted', caps('CAP_SYS_ADMIN'), /ctnetlink needs CAP_NET_ADMIN, which this process lacks\)$/],
    ['ctnetlink: bind ctnetlink groups: Operation not permitted', caps('CAP_NET_ADMIN'), /^ctnetlink: bind ctnetlink groups: Operation not permitted$/],
    ['no such file', caps(), /^no such file$/],
  ])('%s', (msg, held, want) => expect(explainPermission(msg, held)).toMatch(want));

  it('an EPERM program load blames missing capabilities before the kernel', () => {
    expect(explainRefusal('tp_btf', 1, '', caps('CAP_BPF'))).toBe('EPERM: this process lacks CAP_PERFMON (tracing programs need CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN)');
    expect(explainRefusal('fentry', 1, '', caps('CAP_BPF', 'CAP_PERFMON'))).toBe('EPERM: the kernel refuses trampolines (fentry/fexit)');
    expect(explainRefusal('tcx', 1, '', caps('CAP_BPF', 'CAP_PERFMON'))).toMatch(/lacks CAP_NET_ADMIN/);
    // Debian's 6.1: nf_conntrack is a module, and its BTF needs CAP_SYS_ADMIN to be found
    expect(explainRefusal('fentry', 1, '', caps('CAP_BPF', 'CAP_PERFMON'), true)).toBe('EPERM: nf_conntrack is a module here, and its BTF can only be found with CAP_SYS_ADMIN, which this process lacks');
    expect(explainRefusal('fentry', 1, '', caps('CAP_SYS_ADMIN'), true)).toBe('EPERM: the kernel refuses trampolines (fentry/fexit)');
    expect(explainRefusal('tp_btf', 1, '', caps('CAP_BPF', 'CAP_PERFMON'), true)).toMatch(/refuses this program type/);
  });
});
