// An inode means nothing to an operator: the rankings by netns name each
// namespace where the sources know it (host, its /run/netns name, pid:N).

import type { TopKResult } from '../../model/model.js';

export type NetnsNames = () => ReadonlyMap<number, string>;

/** `r` with `netns_name` on each item when it ranks by netns and names are known. */
export function withNetnsNames<T extends TopKResult>(r: T, names: NetnsNames | undefined): T {
  if (r.by !== 'netns' || !names) return r;
  const m = names();
  return { ...r, items: r.items.map((i) => ({ ...i, netns_name: m.get(Number(i.key)) ?? null })) };
}

/** The item field withNetnsNames() adds, for the rankings' response schemas. */
export const netnsNameField = { netns_name: { type: ['string', 'null'] } } as const;
