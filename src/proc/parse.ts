// Parsers for the kernel's conntrack figures. Pure functions: the poller reads
// the files, these turn text into numbers, and the unit tests feed them the
// formats of old and new kernels.

/**
 * /proc/net/stat/nf_conntrack: a header line of column names, then one line of
 * hex numbers per CPU. Columns moved across kernels (old: searched, new, ...,
 * delete_list; new: ... clashres, chainlength), so values are keyed by the
 * header's names, never by position. `entries` is the global count repeated on
 * every line, so it is taken once rather than summed.
 */
export function parseConntrackStat(text: string): Record<string, number> {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  if (lines.length === 0) throw new Error('empty /proc/net/stat/nf_conntrack');
  const cols = lines[0]!.trim().split(/\s+/);
  if (!cols.every((c) => /^[a-z_]+$/.test(c))) {
    throw new Error(`unexpected header in /proc/net/stat/nf_conntrack: ${lines[0]}`);
  }
  const out: Record<string, number> = {};
  for (const c of cols) out[c] = 0;
  for (const [n, line] of lines.slice(1).entries()) {
    const vals = line.trim().split(/\s+/);
    if (vals.length !== cols.length) {
      throw new Error(`line ${n + 2} of /proc/net/stat/nf_conntrack has ${vals.length} columns, header has ${cols.length}`);
    }
    vals.forEach((v, i) => {
      const x = parseInt(v, 16);
      if (Number.isNaN(x)) throw new Error(`not a hex number in /proc/net/stat/nf_conntrack line ${n + 2}: ${v}`);
      const name = cols[i]!;
      if (name === 'entries') out[name] = x;
      else out[name] = out[name]! + x;
    });
  }
  return out;
}

/** A sysctl file's single integer. */
export function parseSysctlInt(text: string, name: string): number {
  const t = text.trim();
  if (!/^-?\d+$/.test(t)) throw new Error(`${name}: expected an integer, got ${JSON.stringify(t.slice(0, 40))}`);
  return Number(t);
}

/** The timeout sysctls' names as the API shows them: prefix removed. */
export function timeoutKey(sysctlFile: string): string | null {
  const m = /^nf_conntrack_(.*timeout.*)$/.exec(sysctlFile);
  return m ? m[1]! : null;
}

export type Level = 'ok' | 'warn' | 'action' | 'critical';

/** Table utilization level: warn ≥70 %, action ≥85 %, critical ≥95 %. */
export function utilizationLevel(utilization: number): Level {
  if (utilization >= 0.95) return 'critical';
  if (utilization >= 0.85) return 'action';
  if (utilization >= 0.7) return 'warn';
  return 'ok';
}
