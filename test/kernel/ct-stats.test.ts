// The per-CPU conntrack statistics over ctnetlink (native/ct_stats.cc), what
// the /proc poller reads where a kernel has no /proc/net/stat/nf_conntrack:
// the dump request and the reading of its answers are the netlink reader's
// own (netlink_request.h, netlink_decode.h). Read in a namespace of the lab's
// after a known load and held, column by column, to the same namespace's
// /proc/net/stat/nf_conntrack.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, kernelTier } from '../helpers/lab.js';
import { holdKernelLockForSuite, udpFlows } from './netlink-lab.js';
import { readNetnsSnapshot } from '../../src/proc/poller.js';
import { cannotRun } from '../helpers/requires.js';
import { loadAddon } from '../../src/native/addon.js';

const tier = kernelTier();
const skip = cannotRun(tier);

describe.skipIf(skip)('conntrack statistics over ctnetlink', () => {
  let lab: Lab;
  holdKernelLockForSuite();

  beforeAll(async () => {
    lab = await Lab.create('ctstat');
  });

  afterAll(async () => {
    await lab?.destroy();
  });

  it('equal /proc/net/stat/nf_conntrack column by column, and say where they came from', async () => {
    // conntrack tracks the server's namespace once a rule asks for it
    await lab.nft(lab.server, 'table inet ctstat {\n chain pre {\n type filter hook prerouting priority 0;\n ct state new counter\n ct state invalid counter\n }\n}\n');
    await udpFlows((ns, args) => lab.exec(ns, args), lab.client, lab.clientAddress, lab.serverAddress, 23);
    // 29 TCP segments with SYN and FIN both set: conntrack counts each as invalid
    await lab.exec(lab.client, ['hping3', '-q', '-S', '-F', '-p', '80', '-c', '29', '-i', 'u200', lab.serverAddress]).catch(() => undefined);
    // The namespace is quiet now: both reads see the same counters.
    const proc = await lab.conntrackStats(lab.server);
    const s = readNetnsSnapshot(`/run/netns/${lab.server}`, 'ctnetlink');
    expect(s.stats_source).toBe('ctnetlink');
    expect(s.cookie).toMatch(/^[1-9][0-9]*$/);
    const names = Object.keys(s.stats).sort();
    expect(names).toEqual(expect.arrayContaining(['drop', 'early_drop', 'found', 'icmp_error', 'insert', 'insert_failed', 'invalid', 'search_restart']));
    for (const n of names) expect(s.stats[n], n).toBe(proc[n]);
    // not a comparison of zeros: the load left its mark
    expect(s.stats.invalid).toBeGreaterThanOrEqual(29);
    // /proc's own reading of the same namespace agrees
    expect(readNetnsSnapshot(`/run/netns/${lab.server}`).stats_source).toBe('proc');
  });

  it("the poller's count and max over ctnetlink (IPCTNL_MSG_CT_GET_STATS), not from /proc/sys/net: the kernel's own figures", async () => {
    // Paths that do not exist stand where the count and max files are: what
    // comes back came over ctnetlink (a namespace's /proc/sys/net costs a
    // walk of every namespace's entries; see native/netns_batch.cc).
    const path = `/run/netns/${lab.server}`;
    const [viaNetlink, viaFiles] = await loadAddon().readNetnsBatch([
      { path, files: ['/nonexistent/count', '/nonexistent/max'], cookie: false, ctStats: 'never', ctCount: [0, 1] },
      { path, files: ['/proc/sys/net/netfilter/nf_conntrack_count', '/proc/sys/net/netfilter/nf_conntrack_max'], cookie: false, ctStats: 'never' },
    ]);
    const kernelCount = Number((await lab.exec(lab.server, ['cat', '/proc/sys/net/netfilter/nf_conntrack_count'])).stdout);
    expect(kernelCount).toBeGreaterThanOrEqual(23); // the UDP flows above, still alive
    expect(viaNetlink!.error).toBeNull();
    expect(Number(viaNetlink!.texts[0])).toBe(kernelCount);
    expect(Number(viaNetlink!.texts[0])).toBe(Number(viaFiles!.texts[0]));
    expect(Number(viaNetlink!.texts[1])).toBe(Number(viaFiles!.texts[1]));
    expect(Number(viaNetlink!.texts[1])).toBeGreaterThan(0);
  });
});
