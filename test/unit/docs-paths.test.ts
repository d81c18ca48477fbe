// The documentation names only files that exist: every path written in
// backticks in README.md and docs/*.md — root-relative (`src/model/entry.ts`),
// relative to the folder its sentence is about (`queries/ranking.ts`, found
// as the end of a path in the repository), a folder (`rules/`) or a glob
// (`bpf/*.bpf.c`) — must name something in the repository. A file renamed or
// removed without its docs fails here.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '../..');
/** Folders that exist only once built or tested (.gitignore'd): paths under them are not looked for. */
const MADE = ['bpf/.output/', 'dist/', 'build/', 'test-artifacts/'];
/** Files the build makes, named by themselves: bpf/.output/vmlinux.h (from the build machine's BTF). */
const MADE_FILES = ['vmlinux.h'];
/** Placeholders of a name (`FILE.1.ctcap`: the rotated files of --record FILE). */
const PLACEHOLDER = /(^|\/)(FILE|NAME|NETNS)[./]/;
const SKIP_DIRS = new Set(['node_modules', '.git', ...MADE.map((m) => m.replace(/\/$/, ''))]);
const EXT = /\.(ts|mjs|js|cc|h|c|md|json|proto|gyp|sh|ya?ml|service|ctcap|txt)$/;

function walk(dir: string, out: string[]): string[] {
  for (const e of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = dir ? `${dir}/${e.name}` : e.name;
    if (e.isDirectory()) {
      if (SKIP_DIRS.has(rel) || e.name === '.git' || e.name === 'node_modules') continue;
      out.push(`${rel}/`);
      walk(rel, out);
    } else out.push(rel);
  }
  return out;
}

const entries = walk('', []);
const top = new Set(fs.readdirSync(ROOT));

/** The backticked tokens of a markdown file that read as paths (code blocks left out). */
export function pathsIn(markdown: string, topLevel: ReadonlySet<string> = top): string[] {
  const text = markdown.replace(/```[\s\S]*?```/g, '');
  const out = new Set<string>();
  for (const [, t] of text.matchAll(/`([^`\n]+)`/g)) {
    if (!/^[\w.*-]+(\/[\w.*-]+)*\/?$/.test(t!)) continue; // spaces, options, URLs, key=value, host:port
    if (/^\.[\w.]+$/.test(t!)) continue; // an extension named as a word (`.cc`)
    if (PLACEHOLDER.test(t!)) continue;
    if (t!.endsWith('/') || EXT.test(t!) || topLevel.has(t!.split('/')[0]!)) out.add(t!);
  }
  return [...out];
}

function exists(p: string): boolean {
  if (MADE.some((m) => p.startsWith(m) || `${p}/`.startsWith(m)) || MADE_FILES.includes(p)) return true;
  const re = new RegExp(`(^|/)${p.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}${p.endsWith('/') ? '' : '/?'}$`);
  return entries.some((e) => re.test(e));
}

const docs = ['README.md', ...fs.readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

describe('paths the documentation names', () => {
  it('reads paths, not options or values', () => {
    const got = pathsIn('`src/model/entry.ts` `queries/` `bpf/*.bpf.c` `--max-cpu` `NAME/udp_timeout=5` `127.0.0.1:9640/metrics` `.cc` `NAMESPACE/POD` `tp_btf/kfree_skb` `vmlinux.h` `FILE.1.ctcap`', new Set(['src', 'bpf']));
    expect(got.sort()).toEqual(['bpf/*.bpf.c', 'queries/', 'src/model/entry.ts', 'vmlinux.h']);
    expect(exists('src/model/entry.ts') && exists('queries/') && exists('bpf/*.bpf.c') && exists('model/queries/ranking.ts')).toBe(true);
    expect(exists('src/model/no-such.ts') || exists('nosuchdir/') || exists('ranking.tsx') || exists('odel/entry.ts')).toBe(false);
  });

  it.each(docs)('%s names only paths that exist', (doc) => {
    const paths = pathsIn(fs.readFileSync(path.join(ROOT, doc), 'utf8'));
    expect(paths.filter((p) => !exists(p))).toEqual([]);
  });
});
