// The API's table view over a model: every namespace's table, as the
// model's table accounts keep them (fed by the /proc snapshots it ingests:
// the poller's live, the capture's in a replay).

import type { TableView } from '../api/context.js';
import type { Model } from '../model/model.js';

/** Every namespace's table, as the model's accounts keep them. */
export function modelTable(model: Model): TableView {
  return model.tables;
}
