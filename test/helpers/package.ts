// The package as `npm pack` makes it from this clone (its prepack builds what
// is stale and the prebuild), for the tests of what users install.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** `npm pack` into dir; the tarball's path. */
export function packTarball(dir: string): string {
  execFileSync('npm', ['pack', '--pack-destination', dir, '--loglevel=error'], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'], timeout: 600_000 });
  const tgz = fs.readdirSync(dir).filter((f) => /^ctscope-.*\.tgz$/.test(f));
  if (tgz.length !== 1) throw new Error(`npm pack left ${tgz.length} tarballs in ${dir}`);
  return path.join(dir, tgz[0]!);
}
