// The helper thread of ThreadedInput (read-thread.ts): opens the same input
// and posts its items until the end.

import { workerData } from 'node:worker_threads';
import { openReplay } from './replay.js';
import { produce, type ReadWorkerData } from './read-thread.js';

const data = workerData as ReadWorkerData;
produce(() => openReplay(data.files), data);
