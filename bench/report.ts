// What every benchmark shares: timing a step, percentiles of samples, and the
// printed table (one row per figure, columns of summary statistics), so the
// benches read alike and compare side by side.

/** One measured quantity: its samples, in `unit`. */
export interface Figure {
  name: string;
  samples: number[];
  unit: string;
}

export type Column = 'median' | 'p90' | 'min' | 'max';

export interface TableOptions {
  /** Statistics shown, in order; median, p90, min, max unless given. */
  columns?: Column[];
  /** Decimals of each value; 1 unless given. */
  digits?: number;
}

/** Milliseconds `fn` took to settle. */
export async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

/** The p-th percentile (0..100), interpolated between neighbours; NaN without samples. */
export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const rank = (p / 100) * (s.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return s[lo]! + (s[hi]! - s[lo]!) * (rank - lo);
}

export const median = (xs: number[]): number => percentile(xs, 50);

const statistic: Record<Column, (xs: number[]) => number> = {
  median,
  p90: (xs) => percentile(xs, 90),
  min: (xs) => (xs.length ? Math.min(...xs) : NaN),
  max: (xs) => (xs.length ? Math.max(...xs) : NaN),
};

/** Prints figures as a table: name, sample count, then each column's statistic with its unit. */
export function printTable(figures: Figure[], options: TableOptions = {}): void {
  const columns = options.columns ?? ['median', 'p90', 'min', 'max'];
  const digits = options.digits ?? 1;
  const nameWidth = Math.max(6, ...figures.map((f) => f.name.length));
  const cells = figures.map((f) => columns.map((c) => `${statistic[c](f.samples).toFixed(digits)} ${f.unit}`));
  const width = Math.max(10, ...cells.flat().map((c) => c.length));
  console.log(`${'figure'.padEnd(nameWidth)}  ${'n'.padStart(3)}  ${columns.map((c) => c.padStart(width)).join('  ')}`);
  figures.forEach((f, i) => {
    console.log(`${f.name.padEnd(nameWidth)}  ${String(f.samples.length).padStart(3)}  ${cells[i]!.map((c) => c.padStart(width)).join('  ')}`);
  });
}
