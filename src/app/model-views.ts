// The API's table view and /metrics of a ctscope whose only knowledge of the
// kernel is its model (a replay: the /proc snapshots it holds are the
// capture's). The live daemon reads the table from its /proc poller instead.

import type { TableView } from '../api/context.js';
import { Exposition } from '../metrics/exposition.js';
import { writeModelMetrics } from '../metrics/model.js';
import { renderSourceMetrics, renderTableMetrics } from '../metrics/table.js';
import type { Model } from '../model/model.js';
import type { ProcSnapshot } from '../proc/types.js';
import type { SourceStatus } from '../sources/source.js';

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

/** The /metrics text: the table, the sources, the model. */
export function modelMetrics(model: Model, table: TableView, sources: () => SourceStatus[]): () => string {
  return () => {
    const out = new Exposition();
    renderTableMetrics(out, table.host(), table.all());
    renderSourceMetrics(out, sources());
    writeModelMetrics(out, model, { topK: model.opts.topK });
    return out.text();
  };
}
