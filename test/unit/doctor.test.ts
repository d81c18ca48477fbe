// `ctscope doctor`: the pieces that need no kernel — lockdown parsing, the
// text report, usage errors (exit 2, one line, no stack trace).
import { afterEach, describe, expect, it, vi } from 'vitest';

import { doctorCommand } from '../../src/cli/commands/doctor.js';
import { formatDoctorReport, parseLockdown, type DoctorReport } from '../../src/doctor/probe.js';
import { capabilityReport } from '../../src/privileges.js';

describe('parseLockdown', () => {
  it.each([
    ['[none] integrity confidentiality', 'none'],
    ['none [integrity] confidentiality', 'integrity'],
    [null, null],
  ])('%s -> %s', (text, level) => expect(parseLockdown(text)).toBe(level));
});

const report: DoctorReport = {
  addon: { path: '/usr/lib/node_modules/ctscope/prebuilds/linux-x64/ctscope.napi.glibc.node', loaded: true },
  kernel: { release: '6.18.0', version: '#1 SMP', btf: { vmlinux: true, conntrack: 'built in' }, lockdown: null, unprivilegedBpfDisabled: 2 },
  features: { fentry: 'EPERM: the kernel refuses trampolines (fentry/fexit)', kprobe: 'no kprobes on this kernel', tpBtf: 'ok', ringbuf: 'ok', tcx: 'ok' },
  conntrack: { nf_conntrack_max: 262144, nf_conntrack_count: 3, nf_conntrack_buckets: 65536, nf_conntrack_acct: 0, nf_conntrack_timestamp: 0, nf_conntrack_events: 1 },
  capabilities: [
    {
      capability: 'alloc',
      chosen: 'ctnetlink',
      tried: [
        { hook: 'fexit:__nf_conntrack_alloc', result: 'EPERM: the kernel refuses trampolines (fentry/fexit)' },
        { hook: 'ctnetlink', result: 'fallback: NEW events' },
      ],
    },
    { capability: 'drops', chosen: 'tp_btf:kfree_skb', tried: [{ hook: 'tp_btf:kfree_skb', result: 'attached' }] },
  ],
  blindSpots: ['table_full: the tuples refused when the table is full'],
  privileges: {
    uid: 65534,
    capabilities: ['CAP_BPF', 'CAP_PERFMON', 'CAP_NET_ADMIN'],
    needs: capabilityReport(new Set(['CAP_BPF', 'CAP_PERFMON', 'CAP_NET_ADMIN'])),
    trials: [
      { what: 'ctnetlink', ok: true, result: 'events and dumps in this namespace (receive buffer 256 MiB)' },
      { what: 'namespaces', ok: false, result: 'cannot enter network namespace /proc/self/ns/net: Operation not permitted (entering another network namespace needs CAP_SYS_ADMIN, which this process lacks)' },
    ],
  },
  problems: [],
};

describe('formatDoctorReport', () => {
  it('shows each capability with its hook and every refusal under it', () => {
    const text = formatDoctorReport(report);
    expect(text).toContain('lockdown      not available (no lockdown LSM file)');
    expect(text).toContain('addon         /usr/lib/node_modules/ctscope/prebuilds/linux-x64/ctscope.napi.glibc.node\n');
    expect(text).toContain('alloc         ctnetlink\n                fexit:__nf_conntrack_alloc → EPERM: the kernel refuses trampolines (fentry/fexit)');
    expect(text).toContain('drops         tp_btf:kfree_skb\n');
    expect(text).not.toContain('tp_btf:kfree_skb → attached');
    expect(text).toContain('count 3/262144, buckets 65536');
    expect(text).toContain('cannot see:\n  table_full: the tuples refused when the table is full');
  });

  it('shows the capabilities held, what each missing one costs, and the refused trials', () => {
    const text = formatDoctorReport(report);
    expect(text).toContain('privileges    uid 65534; CAP_BPF CAP_PERFMON CAP_NET_ADMIN\n  CAP_BPF         held\n');
    expect(text).toMatch(/^  CAP_SYS_ADMIN   MISSING: only ctscope's own network namespace is followed/m);
    expect(text).toMatch(/^  CAP_SYS_PTRACE  MISSING: namespaces known only through another user's process/m);
    expect(text).toContain('ctnetlink     events and dumps in this namespace (receive buffer 256 MiB)\n');
    expect(text).toContain('namespaces    REFUSED: cannot enter network namespace /proc/self/ns/net: Operation not permitted (entering another network namespace needs CAP_SYS_ADMIN, which this process lacks)\n');
  });
});

describe('doctorCommand usage', () => {
  afterEach(() => vi.restoreAllMocks());

  it('rejects an unknown --hooks value with exit 2 and the choices', async () => {
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    expect(await doctorCommand(['--hooks', 'ebpf'])).toBe(2);
    expect(String(err.mock.calls[0]![0])).toMatch(/^ctscope doctor: --hooks must be one of auto, fentry, kprobe, netlink, got 'ebpf'\n/);
  });

  it('rejects an unknown flag with exit 2', async () => {
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    expect(await doctorCommand(['--jsn'])).toBe(2);
    expect(String(err.mock.calls[0]![0])).toMatch(/^ctscope doctor: .*--jsn/);
  });

  it('--help prints the usage', async () => {
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    expect(await doctorCommand(['--help'])).toBe(0);
    expect(String(out.mock.calls[0]![0])).toMatch(/^usage: ctscope doctor \[--json\]/);
  });
});
