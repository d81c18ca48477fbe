// The record ABI has one definition (bpf/ctscope_record.h). The addon reports
// offsetof()/sizeof() as its C++ compiler sees them; the TypeScript decoder's
// table must agree field by field, or decoding would silently misread.
import { describe, expect, it } from 'vitest';
import { loadAddon } from '../../src/native/addon.js';
import { FIELDS, RECORD_SIZE, RECORD_VERSION } from '../../src/records/layout.js';
import { built, cannotRun } from '../helpers/requires.js';

const skip = cannotRun(built());

describe('record layout', () => {
  it.skipIf(skip)('matches the C header field by field', () => {
    const l = loadAddon().layout();
    expect(l.size).toBe(RECORD_SIZE);
    expect(l.version).toBe(RECORD_VERSION);
    expect(Object.keys(l.fields).sort()).toEqual(Object.keys(FIELDS).sort());
    for (const [name, f] of Object.entries(FIELDS)) {
      expect({ name, ...l.fields[name] }).toEqual({ name, offset: f.offset, size: f.size });
    }
  });

  it('has no overlapping fields and fits the record', () => {
    const spans = Object.values(FIELDS)
      .map((f) => [f.offset, f.offset + f.size] as const)
      .sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < spans.length; i++) expect(spans[i]![0]).toBeGreaterThanOrEqual(spans[i - 1]![1]);
    expect(spans.at(-1)![1]).toBeLessThanOrEqual(RECORD_SIZE);
  });
});
