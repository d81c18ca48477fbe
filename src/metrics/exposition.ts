// A small writer for the Prometheus text exposition format: HELP and TYPE once
// per family, label values escaped. Every /metrics producer writes through it
// so the output stays valid for `promtool check metrics`.

export type MetricType = 'gauge' | 'counter' | 'histogram' | 'untyped';

export type Labels = Record<string, string | number>;

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

export class Exposition {
  private readonly lines: string[] = [];
  private readonly declared = new Set<string>();

  /** Declare a family (once); samples follow with sample(). */
  family(name: string, type: MetricType, help: string): this {
    if (!this.declared.has(name)) {
      this.declared.add(name);
      this.lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
    }
    return this;
  }

  sample(name: string, value: number, labels?: Labels): this {
    let l = '';
    if (labels) {
      const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(String(v))}"`);
      if (parts.length) l = `{${parts.join(',')}}`;
    }
    this.lines.push(`${name}${l} ${formatValue(value)}`);
    return this;
  }

  /** Append already-rendered exposition text (another producer's). */
  raw(text: string): this {
    const t = text.trimEnd();
    if (t) this.lines.push(t);
    return this;
  }

  text(): string {
    return this.lines.join('\n') + '\n';
  }
}
