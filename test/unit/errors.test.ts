// Every error an operator can cause is a UserError, so the CLI decides by type
// (src/cli/main.ts): one sentence and exit 1 (or 2 for a wrong command line),
// never a stack trace; anything else is a bug and shows its stack.
import { describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.js';
import { UsageError } from '../../src/cli/args.js';
import { RecordFormatError } from '../../src/records/batch.js';
import { CaptureError } from '../../src/capture/reader.js';
import { ReplayInputError } from '../../src/capture/replay.js';
import { WhatIfSpecError } from '../../src/capture/what-if-spec.js';
import { ImportError } from '../../src/import/conntrack-text.js';
import { DropSourceError } from '../../src/sources/bpf-drops.js';
import { LifecycleSourceError } from '../../src/sources/lifecycle.js';
import { AddonUnavailableError } from '../../src/native/addon.js';
import { ProcUnavailableError } from '../../src/proc/poller.js';
import { CriError } from '../../src/workloads/cri/client.js';
import { main } from '../../src/cli/main.js';

describe('operator errors', () => {
  it.each([
    [new UsageError('x', 'run'), 'UsageError', 2],
    [new WhatIfSpecError('x'), 'WhatIfSpecError', 2],
    [new RecordFormatError('x', 0), 'RecordFormatError', 1],
    [new CaptureError('x', 'f', 0), 'CaptureError', 1],
    [new ReplayInputError('x'), 'ReplayInputError', 1],
    [new ImportError('x', 'f', 0), 'ImportError', 1],
    [new DropSourceError('x'), 'DropSourceError', 1],
    [new LifecycleSourceError('x'), 'LifecycleSourceError', 1],
    [new AddonUnavailableError('x'), 'AddonUnavailableError', 1],
    [new ProcUnavailableError('x'), 'ProcUnavailableError', 1],
    [new CriError('ListPodSandbox', 'UNAVAILABLE', 'no such file'), 'CriError', 1],
  ] as const)('%s is a UserError named %s with exit code %d', (e, name, code) => {
    expect(e).toBeInstanceOf(UserError);
    expect(e.name).toBe(name);
    expect(e.exitCode).toBe(code);
  });

  it('main() prints a user error as one line with its exit code, no stack', async () => {
    const writes: string[] = [];
    const orig = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((s: string) => (writes.push(String(s)), true)) as typeof process.stderr.write;
    try {
      // a file that is not there: ReplayInputError, exit 1, one line
      expect(await main(['replay', '/nonexistent/x.ctcap', '--report', 'json'])).toBe(1);
      expect(writes.join('')).toMatch(/^ctscope replay: [^\n]*\/nonexistent\/x\.ctcap[^\n]*\n$/);
      writes.length = 0;
      // a wrong flag: exit 2
      expect(await main(['doctor', '--no-such-flag'])).toBe(2);
      expect(writes.join('')).not.toMatch(/\n\s+at /);
    } finally {
      process.stderr.write = orig;
    }
  });
});

// A new error class must choose: an operator's (extends UserError, directly
// or through another) or the API's 4xx (ApiError). Found by reading src/.
describe('error classes in src/', () => {
  it('every class extending an Error extends UserError, except the API 4xx (ApiError)', async () => {
    const fs = await import('node:fs');
    const path = await import('node:path');
    const files = (fs.readdirSync('src', { recursive: true }) as string[]).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')).map((f) => path.join('src', f));
    const parent = new Map<string, string>();
    for (const f of files) for (const m of fs.readFileSync(f, 'utf8').matchAll(/class (\w+) extends (\w+)/g)) parent.set(m[1]!, m[2]!);
    const isUser = (c: string, seen = 0): boolean => c === 'UserError' || (seen < 10 && parent.has(c) && isUser(parent.get(c)!, seen + 1));
    const errors = [...parent.keys()].filter((c) => /Error$/.test(c) && c !== 'UserError');
    expect(errors.length).toBeGreaterThan(10);
    expect(errors.filter((c) => !isUser(c) && c !== 'ApiError')).toEqual([]);
  });
});
