// The Prometheus text exposition format (version 0.0.4), just what skiff's
// endpoint writes: counters, gauges and histograms with labels.

export type Labels = Record<string, string>;

export interface Sample {
  labels: Labels;
  value: number;
}

/** Label values escaped as the format requires: backslash, quote, newline. */
function labelText(labels: Labels): string {
  const pairs = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
  return pairs.length === 0 ? '' : `{${pairs.join(',')}}`;
}

function numberText(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

/** One metric family: its HELP and TYPE lines, then a line per sample. */
export function family(name: string, type: 'counter' | 'gauge' | 'histogram', help: string, samples: Array<Sample & { suffix?: string }>): string {
  const lines = [`# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${name} ${type}`];
  for (const s of samples) lines.push(`${name}${s.suffix ?? ''}${labelText(s.labels)} ${numberText(s.value)}`);
  return lines.join('\n') + '\n';
}

/** A histogram with fixed upper bounds, kept per label set. */
export class Histogram {
  private readonly series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();

  constructor(readonly bounds: readonly number[]) {}

  observe(labels: Labels, value: number): void {
    const key = JSON.stringify(labels);
    let s = this.series.get(key);
    if (!s) {
      s = { labels, counts: new Array<number>(this.bounds.length).fill(0), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    for (let i = 0; i < this.bounds.length; i++) if (value <= this.bounds[i]!) s.counts[i]!++;
    s.sum += value;
    s.count++;
  }

  /** Cumulative buckets, +Inf, _sum and _count per series. */
  samples(): Array<Sample & { suffix: string }> {
    const out: Array<Sample & { suffix: string }> = [];
    for (const s of this.series.values()) {
      this.bounds.forEach((le, i) => out.push({ suffix: '_bucket', labels: { ...s.labels, le: String(le) }, value: s.counts[i]! }));
      out.push({ suffix: '_bucket', labels: { ...s.labels, le: '+Inf' }, value: s.count });
      out.push({ suffix: '_sum', labels: s.labels, value: s.sum });
      out.push({ suffix: '_count', labels: s.labels, value: s.count });
    }
    return out;
  }
}
