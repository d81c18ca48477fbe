// The API's table view for a ctscope whose only knowledge of the kernel is
// its model (a replay: the /proc snapshots it holds are the capture's). The
// live daemon reads the table from its /proc poller instead.

import type { TableView } from '../api/context.js';
import type { Model } from '../model/model.js';
import type { ProcSnapshot } from '../proc/types.js';

/** The table as the model's /proc snapshots last saw it. */
export function modelTable(model: Model): TableView {
  return {
    host: () => model.snapshot(),
    get: (netns) => model.snapshot(netns),
    all: () =>
      model
        .namespaces()
        .map((n) => model.snapshot(n))
        .filter((s): s is ProcSnapshot => s !== null),
  };
}
