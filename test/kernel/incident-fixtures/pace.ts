// pace.py run inside a lab namespace (paced new UDP flows; see pace.py), for
// the incident and what-if kernel tests. Resolves with what it printed.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Lab } from '../../helpers/lab.js';

const PACE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'pace.py');

export function pace(lab: Lab, ns: string, args: Array<string | number>, timeoutMs = 300_000): Promise<string> {
  return lab.exec(ns, ['python3', PACE, ...args.map(String)], { timeoutMs }).then((r) => r.stdout.trim());
}
