// Every error an operator can cause is a UserError, so the CLI decides by type
// (src/cli/main.ts): one sentence and exit 1 (or 2 for a wrong command line),
// never a stack trace; anything else is a bug and shows its stack.
import { describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.js';
import { UsageError } from '../../src/cli/args.js';
import { RecordFormatError } from '../../src/records/batch.js';
import { CaptureError } from '../../src/capture/reader.js';
import { ReplayInputError } from '../../src/capture/replay.js';
import { WhatIfSpecError } from '../../src/capture/what-if.js';
import { ImportError } from '../../src/import/conntrack-text.js';
import { DropSourceError } from '../../src/sources/bpf-drops.js';
import { LifecycleSourceError } from '../../src/sources/lifecycle.js';
import { AddonUnavailableError } from '../../src/native/addon.js';
import { ProcUnavailableError } from '../../src/proc/poller.js';
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
