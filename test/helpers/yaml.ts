// YAML manifests read as kubectl reads them, through Debian's python3-yaml
// (PyYAML's safe loader: YAML 1.1, no custom tags), so the tests parse the
// files users apply without a YAML package of their own. One python3 process
// reads every file asked for at once (starting it is most of the cost).

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

const LOAD =
  'import sys, json, yaml\n' +
  'files = json.load(sys.stdin)\n' +
  'json.dump({f: [d for d in yaml.safe_load_all(open(f)) if d is not None] for f in files}, sys.stdout)';

/** Every document of each YAML file (empty ones left out), by the path given. */
export function parseYamlFiles(files: string[]): Record<string, any[]> {
  for (const f of files) fs.accessSync(f, fs.constants.R_OK);
  return JSON.parse(execFileSync('python3', ['-c', LOAD], { input: JSON.stringify(files), encoding: 'utf8' })) as Record<string, any[]>;
}

/** Every YAML file under a folder, recursively, parsed. */
export function parseYamlTree(dir: string): Record<string, any[]> {
  const files = (fs.readdirSync(dir, { recursive: true }) as string[]).filter((f) => /\.ya?ml$/.test(f)).map((f) => `${dir}/${f}`);
  return parseYamlFiles(files);
}
