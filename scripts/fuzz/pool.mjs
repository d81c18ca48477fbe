// Runs fuzz cases (cases.mjs) one at a time in a worker thread with a time
// budget and a heap limit, so a case that hangs or grows without bound is a
// finding, not a hung test: the worker is terminated (which stops even a
// synchronous endless loop) and a fresh one takes the next case.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { materialize } from './cases.mjs';

const WORKER = new URL('./worker.mjs', import.meta.url);

export class FuzzPool {
  /** @param {{ budgetMs?: number, heapMb?: number }} opts */
  constructor(opts = {}) {
    this.budgetMs = opts.budgetMs ?? 20_000;
    this.heapMb = opts.heapMb ?? 512;
    this.worker = null;
    this.ready = null;
    this.seq = 0;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctscope-fuzz-'));
  }

  start() {
    const w = new Worker(WORKER, { resourceLimits: { maxOldGenerationSizeMb: this.heapMb, maxYoungGenerationSizeMb: 64 }, stdout: true, stderr: true });
    w.stdout.resume();
    w.stderr.resume();
    this.worker = w;
    this.ready = new Promise((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    return this.ready;
  }

  /** Run one case: { code, err, ms, serve } or { timedOut } / { crashed }. */
  async run(c) {
    if (!this.worker) await this.start();
    const id = ++this.seq;
    const dir = path.join(this.dir, String(id));
    const argv = materialize(c, dir);
    const w = this.worker;
    try {
      return await new Promise((resolve) => {
        const timer = setTimeout(() => {
          cleanup();
          void w.terminate();
          this.worker = null;
          resolve({ timedOut: true, budgetMs: this.budgetMs });
        }, this.budgetMs);
        const onMessage = (m) => {
          if (m.id !== id) return;
          cleanup();
          resolve(m);
        };
        const onError = (e) => {
          cleanup();
          this.worker = null;
          resolve({ crashed: `${e.code ?? ''} ${e.message}`.trim() });
        };
        const onExit = (code) => {
          cleanup();
          this.worker = null;
          resolve({ crashed: `worker exited with ${code}` });
        };
        const cleanup = () => {
          clearTimeout(timer);
          w.off('message', onMessage);
          w.off('error', onError);
          w.off('exit', onExit);
        };
        w.on('message', onMessage);
        w.once('error', onError);
        w.once('exit', onExit);
        w.postMessage({ id, argv, serve: c.serve });
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  async close() {
    if (this.worker) await this.worker.terminate();
    this.worker = null;
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** What is wrong with a case's result (null: nothing). The properties of issue 17. */
export function verdict(r) {
  if (r.timedOut) return `did not finish within ${r.budgetMs} ms`;
  if (r.crashed) return `the process would have died: ${r.crashed}`;
  if (![0, 1, 2].includes(r.code)) return `exit code ${r.code}`;
  if (/internal error|^\s+at .+:\d+:\d+\)?$/m.test(r.err)) return `a stack trace or internal error on stderr: ${r.err.slice(0, 3000)}`;
  if (r.code !== 0 && r.err.trim().split('\n').length > 2) return `exit ${r.code} with more than one sentence: ${r.err.slice(0, 1000)}`;
  if (r.code !== 0 && r.err.trim() === '') return `exit ${r.code} without a word`;
  if (r.serve?.length) return `the API over the replay: ${r.serve.join('; ')}`;
  return null;
}
