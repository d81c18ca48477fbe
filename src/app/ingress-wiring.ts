// Everything the live feed needs for `ctscope run --ingress SPEC[,SPEC...]`
// in one object: the source (started and stopped with the others, see
// live-sources.ts), the arrivals it fills (served as /v1/arrivals and read by
// the advice engine's SYN-flood and scan rules) and the /metrics families.
// Here, not in sources/, because it joins a source to the API and the metrics.

import { UserError } from '../errors.js';
import { Exposition } from '../metrics/exposition.js';
import { ArrivalsModel, type ArrivalsOptions } from '../model/arrivals.js';
import type { Model } from '../model/model.js';
import { parseIngressSpecs } from '../sources/ingress-spec.js';
import { IngressSource, type IngressHook } from '../sources/ingress.js';

export const INGRESS_HOOKS: readonly IngressHook[] = ['auto', 'tcx', 'tc-clsact'];

export interface IngressWiring {
  source: IngressSource;
  arrivals: ArrivalsModel;
  metrics(): string;
}

export interface CreateIngressOptions {
  /** The --ingress value. */
  spec: string;
  /** The --ingress-hook value (default auto: tcx where the kernel has it). */
  hook?: string;
  /** The daemon's Model: its history length for the arrivals'. */
  model?: Model;
  arrivals?: ArrivalsOptions;
}

/** Throws UserError for a bad --ingress or --ingress-hook value. */
export function createIngress(o: CreateIngressOptions): IngressWiring {
  const specs = parseIngressSpecs(o.spec);
  const hook = (o.hook ?? 'auto') as IngressHook;
  if (!INGRESS_HOOKS.includes(hook)) {
    throw new UserError(`--ingress-hook must be one of ${INGRESS_HOOKS.join(', ')}, not '${o.hook}'`);
  }
  const arrivals = new ArrivalsModel({ historySeconds: o.model?.opts.historySeconds, ...o.arrivals });
  const source = new IngressSource({ specs, arrivals, hook });
  return {
    source,
    arrivals,
    metrics: () => ingressMetrics(source, arrivals),
  };
}

/** Prometheus families of the ingress source (bounded: no per-key series). */
export function ingressMetrics(source: IngressSource, arrivals: ArrivalsModel): string {
  const e = new Exposition();
  const st = source.status();
  e.family('ctscope_ingress_arrivals_total', 'counter', 'New-flow arrivals seen at netdev ingress before conntrack (TCP SYN without ACK, first packet of a UDP flow).');
  e.sample('ctscope_ingress_arrivals_total', arrivals.totals.tcpSyn, { proto: 'tcp' });
  e.sample('ctscope_ingress_arrivals_total', arrivals.totals.udpNew, { proto: 'udp' });
  e.family('ctscope_ingress_unattributed_arrivals_total', 'counter', 'Arrivals counted in the totals but not per key because an in-kernel counting map was full.');
  e.sample('ctscope_ingress_unattributed_arrivals_total', arrivals.totals.srcOverflow, { map: 'src' });
  e.sample('ctscope_ingress_unattributed_arrivals_total', arrivals.totals.portOverflow, { map: 'dport' });
  e.sample('ctscope_ingress_unattributed_arrivals_total', arrivals.totals.pairOverflow, { map: 'src_dport' });
  e.family('ctscope_ingress_attached_interfaces', 'gauge', 'Interfaces the ingress counter is attached to, by hook.');
  for (const hook of ['tcx', 'tc-clsact']) {
    e.sample('ctscope_ingress_attached_interfaces', st.interfaces.filter((i) => i.hook === hook).length, { hook });
  }
  return e.text();
}
