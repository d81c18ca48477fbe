// The rule of each layer of src/ (docs/ARCHITECTURE.md, "Layers"): what a
// folder may import, and no import circle between files. Read from the
// sources as text, type-only imports included (a circle of types is still a
// circle a reader has to walk).
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = path.resolve(__dirname, '../../src');

// Layer -> the layers it may import (besides itself). The files at the top of
// src/ (errors, version, handoff, privileges) are shared by all.
const SHARED = ['errors', 'version', 'handoff', 'privileges'];
const MAY_IMPORT: Record<string, readonly string[]> = {
  records: [],
  native: ['records'],
  forecast: [],
  proc: ['native', 'records', 'forecast'],
  model: ['records', 'proc', 'forecast'],
  advice: ['model', 'records', 'proc'],
  import: ['records'],
  workloads: ['records', 'proc', 'native', 'model'],
  sources: ['records', 'native', 'proc', 'model'],
  capture: ['records', 'import', 'model', 'advice', 'proc', 'native'],
  metrics: ['records', 'model', 'advice', 'proc', 'workloads'],
  // the API counts its own requests and the process's figures for /metrics (metrics/http.ts, process.ts)
  api: ['records', 'model', 'advice', 'proc', 'workloads', 'metrics'],
  doctor: ['records', 'native', 'sources'],
  app: ['records', 'native', 'forecast', 'proc', 'model', 'advice', 'import', 'workloads', 'sources', 'capture', 'metrics', 'api'],
  cli: ['records', 'native', 'forecast', 'proc', 'model', 'advice', 'import', 'workloads', 'sources', 'capture', 'metrics', 'api', 'doctor', 'app'],
};

function files(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
}

/** Relative imports and re-exports of a file, as resolved .ts paths. */
function imports(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+'(\.{1,2}\/[^']+)'/g)) {
    out.push(path.resolve(path.dirname(file), m[1]!).replace(/\.js$/, '.ts'));
  }
  for (const m of text.matchAll(/import\('(\.{1,2}\/[^']+)'\)/g)) out.push(path.resolve(path.dirname(file), m[1]!).replace(/\.js$/, '.ts'));
  return out;
}

function layerOf(file: string): string {
  const top = path.relative(SRC, file).split(path.sep)[0]!;
  return top.replace(/\.ts$/, '');
}

const all = files(SRC);
const graph = new Map(all.map((f) => [f, imports(f).filter((t) => t.startsWith(SRC))]));

describe('layers', () => {
  it('every folder of src/ has a rule', () => {
    const layers = new Set(all.map(layerOf).filter((l) => !SHARED.includes(l)));
    expect([...layers].filter((l) => !(l in MAY_IMPORT)), 'a new folder: add its rule here and in docs/ARCHITECTURE.md').toEqual([]);
  });

  it('each layer imports only what its rule allows', () => {
    const bad: string[] = [];
    for (const [f, targets] of graph) {
      const from = layerOf(f);
      const allowed = MAY_IMPORT[from];
      if (!allowed) continue;
      for (const t of targets) {
        const to = layerOf(t);
        if (to !== from && !SHARED.includes(to) && !allowed.includes(to)) bad.push(`${path.relative(SRC, f)} -> ${path.relative(SRC, t)}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('docs/ARCHITECTURE.md states the same rules', () => {
    const doc = fs.readFileSync(path.resolve(__dirname, '../../docs/ARCHITECTURE.md'), 'utf8');
    const section = doc.slice(doc.indexOf('\n## Layers'), doc.indexOf('\n## ', doc.indexOf('\n## Layers') + 1));
    const rules: Record<string, string[]> = {};
    for (const [, layer, may] of section.matchAll(/^\| `(\w+)\/` \| ([^|]+) \|/gm)) {
      // "all of the above": every layer of an earlier row; then any named ones
      const above = /all of the above/.test(may!) ? Object.keys(rules) : [];
      const named = [...may!.replace(/all of the above/, '').matchAll(/`?(\w+)\/?`?/g)].map((m) => m[1]!).filter((w) => w !== 'and');
      rules[layer!] = [...new Set([...above, ...named])].sort();
    }
    const code = Object.fromEntries(Object.entries(MAY_IMPORT).map(([k, v]) => [k, [...v].sort()]));
    expect(rules).toEqual(code);
  });

  it('sources import neither the API nor the metrics', () => {
    expect(MAY_IMPORT.sources).not.toContain('api');
    expect(MAY_IMPORT.sources).not.toContain('metrics');
  });
});

/** Every set of files that import each other in a circle (Tarjan's strongly connected components). */
function circlesOf(g: Map<string, string[]>): string[][] {
  let n = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const circles: string[][] = [];
  const visit = (v: string) => {
    index.set(v, n);
    low.set(v, n++);
    stack.push(v);
    on.add(v);
    for (const w of g.get(v) ?? []) {
      if (!g.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const c: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        c.push(w);
      } while (w !== v);
      if (c.length > 1) circles.push(c.sort());
    }
  };
  for (const v of g.keys()) if (!index.has(v)) visit(v);
  return circles;
}

describe('import circles', () => {
  it('there is none', () => {
    expect(circlesOf(graph).map((c) => c.map((f) => path.relative(SRC, f)))).toEqual([]);
  });

  it('the check would see one', () => {
    const g = new Map([
      ['a', ['b']],
      ['b', ['c']],
      ['c', ['a', 'd']],
      ['d', []],
    ]);
    expect(circlesOf(g)).toEqual([['a', 'b', 'c']]);
    // and the reading of imports sees value and type-only imports alike
    const entry = graph.get(path.join(SRC, 'model/entry.ts'))!;
    expect(entry).toContain(path.join(SRC, 'model/model-state.ts')); // import type
    expect(entry).toContain(path.join(SRC, 'model/flow-table.ts')); // import { FF, type FlowTable }
  });
});

// No file over ~500 lines without a reason written at its top (issue 16): a
// long file is read as one thing only when it says why it is one thing.
describe('long files', () => {
  const ROOT = path.resolve(__dirname, '../..');
  const LIMIT = 520;
  /** Long files not yet justified or split, each with who is on it. */
  const PENDING: Record<string, string> = {};
  const list = (dir: string, ext: RegExp): string[] =>
    fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? (e.name.startsWith('.') ? [] : list(`${dir}/${e.name}`, ext)) : ext.test(e.name) ? [`${dir}/${e.name}`] : []));
  /** The comment a file opens with (after a licence line). */
  const head = (text: string): string => {
    const out: string[] = [];
    for (const line of text.split('\n')) {
      if (/^\s*(\/\/|\/\*|\*)/.test(line) || line.trim() === '') out.push(line);
      else break;
    }
    return out.join('\n');
  };
  it('every file over ~500 lines says at its top why it is one file', () => {
    const files = [...list('src', /\.ts$/), ...list('native', /\.(cc|h)$/), ...list('bpf', /\.(c|h)$/), ...list('web/src', /\.ts$/)];
    const long = files.map((f) => ({ f, text: fs.readFileSync(path.join(ROOT, f), 'utf8') })).filter((x) => x.text.split('\n').length > LIMIT && !x.f.endsWith('.generated.ts'));
    expect(long.length).toBeGreaterThan(0); // the check reads the tree
    const silent = long.filter((x) => !(x.f in PENDING) && !/\blines\b/.test(head(x.text))).map((x) => `${x.f} (${x.text.split('\n').length} lines)`);
    expect(silent, 'split it, or say at its top why it is one file of that many lines').toEqual([]);
  });
});
