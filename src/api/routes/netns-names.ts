// An inode means nothing to an operator: the rankings by netns name each
// namespace as its table's account does (tableName: host, its /run/netns
// name, pid:N, the pod's), the one name /v1/table, /v1/stale, the series and
// the event stream give it too.

import type { TopKResult } from '../../model/model.js';
import { tableName, type TableAccounts } from '../../proc/accounts.js';

/** `r` with `netns_name` on each item when it ranks by netns (null where nothing names the namespace). */
export function withNetnsNames<T extends TopKResult>(r: T, tables: Pick<TableAccounts, 'label'>): T {
  if (r.by !== 'netns') return r;
  return { ...r, items: r.items.map((i) => ({ ...i, netns_name: tableName(tables, Number(i.key)) })) };
}

/** The item field withNetnsNames() adds, for the rankings' response schemas. */
export const netnsNameField = { netns_name: { type: ['string', 'null'] } } as const;
