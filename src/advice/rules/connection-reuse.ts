// Connection reuse: one source opening many short TCP connections to one
// port (a client without keep-alive or a pool): each costs an entry for its
// life plus TIME_WAIT.

import { IPPROTO_TCP } from '../../model/states.js';
import type { AdviceItem, AdviceRule } from '../types.js';
import { fmt } from '../format.js';

function splitPair(key: string): [string, number] {
  const i = key.lastIndexOf(':');
  let a = key.slice(0, i);
  if (a.startsWith('[')) a = a.slice(1, -1);
  return [a, Number(key.slice(i + 1))];
}

export const connectionReuseRule: AdviceRule = {
  id: 'connection-reuse',
  run(x) {
    const out: AdviceItem[] = [];
    const w = x.window;
    const pairs = x.model.churn({ by: 'src,dport', window: w, limit: 10 });
    const protos = x.model.liveProtocols('src,dport', pairs.items.map((i) => i.key));
    for (const it of pairs.items) {
      const p = protos.get(it.key);
      const tcp = p?.get(IPPROTO_TCP) ?? 0;
      const all = p ? [...p.values()].reduce((a, b) => a + b, 0) : 0;
      const median = (it.median_lifetime_s as number | null | undefined) ?? null;
      if (it.count < 1000 || all === 0 || tcp / all < 0.9 || median === null || median > 2) continue;
      const [src, port] = splitPair(it.key);
      out.push({
        id: 'connection-reuse',
        level: it.share >= 0.3 ? 'warn' : 'info',
        title: `${src} opened ${fmt(it.count)} short TCP connections to port ${port} in ${w} s`,
        detail: `Median life ${median} s, then TIME_WAIT: each connection holds an entry long after its request. A client without keep-alive or a connection pool does this.`,
        evidence: { src, dport: port, window_s: w, allocations: it.count, rate_per_s: it.rate, share_of_allocations: it.share, destroyed: it.destroyed, median_lifetime_s: median, live_entries: all },
        checks: { 'allocations, rate_per_s, destroyed, median_lifetime_s': `/v1/churn?by=src,dport&window=${w}`, live_entries: '/v1/occupancy?by=src,dport' },
        action: `Reuse connections from ${src} to port ${port} (HTTP keep-alive, a connection pool) instead of opening one per request.`,
      });
    }
    return out;
  },
};
