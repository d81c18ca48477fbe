// A port scan seen at ingress: one source opening flows to many distinct
// ports, every probe an entry.

import type { ArrivalsModel } from '../../model/arrivals.js';
import type { AdviceItem, AdviceRule } from '../types.js';

export function portScanItems(arrivals: ArrivalsModel, o: { window?: number; scanPorts?: number } = {}): AdviceItem[] {
  const window = Math.min(o.window ?? 60, arrivals.historySeconds, 60);
  const scanPorts = o.scanPorts ?? 100;
  const totals = arrivals.windowTotals(window);
  const out: AdviceItem[] = [];
  for (const s of arrivals.portsPerSource(window, 10)) {
    if (s.ports < scanPorts) continue;
    out.push({
      id: 'port-scan',
      level: 'warn',
      title: `${s.src} reached ${s.ports} distinct ports in ${window} s`,
      detail: 'One source opening flows to many ports is a scan; every probe costs a conntrack entry.',
      evidence: { source: s.src, window_s: window, distinct_ports: s.ports, arrivals: s.arrivals, sample_ports: s.sample, pairs_error_bound: totals.pairOverflow },
      checks: { arrivals: `/v1/arrivals?by=src&window=${window}` },
      action: `Block ${s.src} before conntrack, or drop unsolicited traffic to closed ports in raw prerouting.`,
    });
  }
  return out;
}

export const portScanRule: AdviceRule = {
  id: 'port-scan',
  run: (x) => (x.arrivals ? portScanItems(x.arrivals) : []),
};
