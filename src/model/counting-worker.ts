// The helper thread of CountingThread (counting.ts): counts the ring's slots
// until told to finish, then hands its tables back.

import { parentPort, workerData } from 'node:worker_threads';
import { failRing, serveRing, type CountingWorkerData } from './counting.js';

const data = workerData as CountingWorkerData;
try {
  parentPort!.postMessage({ state: serveRing(data) });
} catch (e) {
  failRing(data.sab);
  parentPort!.postMessage({ error: (e as Error).message });
}
