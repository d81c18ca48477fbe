// Runs the real daemon (`node bin/ctscope.js run`) as a child process for
// end-to-end kernel tests, on a free loopback port.

import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

export class DaemonProcess {
  output = '';
  private constructor(
    readonly child: ChildProcess,
    readonly base: string,
  ) {}

  /**
   * `ctscope run` on a free loopback port. `ctscope` is the command that runs
   * ctscope: the clone's by default; the package installed in a prefix, or
   * the clone's behind a wrapper (setpriv, unshare) in the tests that need one.
   */
  static async start(args: string[] = [], timeoutMs = 20_000, ctscope: string[] = [process.execPath, path.join(root, 'bin/ctscope.js')]): Promise<DaemonProcess> {
    const port = await freePort();
    const child = spawn(ctscope[0]!, [...ctscope.slice(1), 'run', '--listen', `127.0.0.1:${port}`, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const d = new DaemonProcess(child, `http://127.0.0.1:${port}`);
    child.stdout!.on('data', (b: Buffer) => (d.output += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (d.output += b.toString()));
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`daemon exited with ${child.exitCode}: ${d.output}`);
      try {
        const r = await fetch(`${d.base}/healthz`);
        if (r.ok) return d;
      } catch {
        /* not yet listening */
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill('SIGKILL');
    throw new Error(`daemon did not answer /healthz within ${timeoutMs} ms: ${d.output}`);
  }

  async get<T = any>(p: string): Promise<T> {
    const r = await fetch(`${this.base}${p}`);
    const body = await r.text();
    if (!r.ok) throw new Error(`GET ${p}: ${r.status} ${body}`);
    return (r.headers.get('content-type') ?? '').includes('json') ? (JSON.parse(body) as T) : (body as T);
  }

  /** SIGTERM and wait; resolves to the exit code. */
  async stop(): Promise<number | null> {
    if (this.child.exitCode !== null) return this.child.exitCode;
    const done = new Promise<number | null>((r) => this.child.once('exit', (c) => r(c)));
    this.child.kill('SIGTERM');
    return done;
  }

  /** kill -9 and wait. */
  async kill9(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const done = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.kill('SIGKILL');
    await done;
  }
}
