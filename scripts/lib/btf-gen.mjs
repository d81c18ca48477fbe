// What scripts/gen-record.mjs and scripts/gen-objects.mjs share: reading a
// built BPF object's BTF with bpftool, and writing the generated file — or,
// with --check, failing when regenerating would change it (CI and
// test/unit/record-contract.test.ts run the check).

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's root. */
export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** A generator named `name` (its messages start with it). */
export function generator(name) {
  /** One sentence on stderr, exit 1. */
  const fail = (msg) => {
    process.stderr.write(`${name}: ${msg}\n`);
    process.exit(1);
  };

  /** `bpftool -j btf dump file` of a built object (a path from the root), parsed. */
  const btf = (obj) => {
    const file = path.join(root, obj);
    if (!fs.existsSync(file)) fail(`${obj} is not built (make -s bpf)`);
    try {
      return JSON.parse(execFileSync('bpftool', ['-j', 'btf', 'dump', 'file', file], { encoding: 'utf8', maxBuffer: 256 << 20 }));
    } catch (e) {
      fail(`bpftool btf dump file ${obj}: ${e.message}`);
    }
  };

  /** Writes `text` to `out` (a path from the root) when it differs; with --check, fails instead. */
  const emit = (out, text) => {
    const file = path.join(root, out);
    const now = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    if (process.argv.includes('--check')) {
      if (now !== text) fail(`${out} is stale: regenerate it with 'node scripts/${name}.mjs' (make -s bpf) and commit it`);
      process.stdout.write(`${name}: ${out} matches the objects' BTF\n`);
    } else if (now !== text) fs.writeFileSync(file, text);
  };

  return { fail, btf, emit };
}
