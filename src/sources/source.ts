// What every source of records (eBPF ring buffer, ctnetlink, a capture file)
// looks like to the daemon. Sources hand decoded batches to a sink; they never
// build one object per record.

import type { RecordSink, SourceStatus } from '../records/sink.js';

export interface Source {
  readonly name: string;
  start(sink: RecordSink): Promise<void>;
  stop(): Promise<void>;
  status(): SourceStatus;
}
