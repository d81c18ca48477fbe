// The record counts the forecast needs (forecast.ts), read from the model's
// own queries: allocations and destroys ranked by namespace (exact: a node
// has few namespaces, far fewer than a heavy-hitter summary holds) and the
// records known lost. A window ending now includes the current second, which
// has only begun: it counts for the part of it that has passed.

import type { RecordRates } from './forecast.js';

/** The model's queries these counts use (Model implements them). */
export interface RankingModel {
  readonly nowNs: number;
  readonly opts: { historySeconds: number };
  topK(q: { by: 'netns'; kinds: readonly ('alloc' | 'destroy')[]; window: number; limit: number }): { items: Array<{ key: string; count: number }> };
  windowSum(name: 'lost' | 'sync_closed', window: number): number;
}

/** Namespaces a window's counts are taken for at most (ranked by count). */
const MAX_NAMESPACES = 100_000;

export function modelRates(model: RankingModel): RecordRates {
  const counts = (kind: 'alloc' | 'destroy', window: number) => {
    const m = new Map<number, number>();
    for (const it of model.topK({ by: 'netns', kinds: [kind], window, limit: MAX_NAMESPACES }).items) m.set(Number(it.key), it.count);
    return m;
  };
  return {
    counts(seconds) {
      const w = Math.max(1, Math.min(Math.ceil(seconds), model.opts.historySeconds));
      const t = model.nowNs / 1e9;
      const elapsed = t - Math.floor(t);
      return { seconds: w - 1 + Math.max(elapsed, 0.001), alloc: counts('alloc', w), destroy: counts('destroy', w) };
    },
    lost(seconds) {
      const w = Math.max(1, Math.min(Math.ceil(seconds), model.opts.historySeconds));
      return model.windowSum('lost', w);
    },
  };
}
