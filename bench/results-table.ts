/**
 * The benchmark results as one table: benchmark | figure | measured | target | pass/miss, printed to the
 * terminal and written to bench/results.md for the README's Performance section.
 */

/** `pass`/`miss` against a target; `info` for a figure shown for context, without a target. */
export type Verdict = 'pass' | 'miss' | 'info';

/** One line of the table. */
export interface ResultRow {
  /** The benchmark's name (`fan-out`, `latency`, ...). */
  benchmark: string;
  /** What was measured. */
  figure: string;
  /** The measured value, with its unit. */
  measured: string;
  /** The target, or `—` for an informational figure. */
  target: string;
  verdict: Verdict;
}

/** A row judged against a target: `pass` when `ok`, else `miss`. */
export function judged(
  benchmark: string,
  figure: string,
  measured: string,
  target: string,
  ok: boolean,
): ResultRow {
  return { benchmark, figure, measured, target, verdict: ok ? 'pass' : 'miss' };
}

/** A row without a target. */
export function informational(benchmark: string, figure: string, measured: string): ResultRow {
  return { benchmark, figure, measured, target: '—', verdict: 'info' };
}

const HEADER = ['Benchmark', 'Figure', 'Measured', 'Target', 'Result'];

function cells(row: ResultRow): string[] {
  return [row.benchmark, row.figure, row.measured, row.target, row.verdict === 'info' ? '' : row.verdict];
}

/** The rows as a Markdown table (also readable as plain text). */
export function markdownTable(rows: readonly ResultRow[]): string {
  const table = [HEADER, ...rows.map(cells)];
  const widths = HEADER.map((_, column) => Math.max(...table.map((line) => line[column]!.length)));
  const line = (values: string[]) =>
    `| ${values.map((value, column) => value.padEnd(widths[column]!)).join(' | ')} |`;
  return [
    line(HEADER),
    `| ${widths.map((width) => '-'.repeat(width)).join(' | ')} |`,
    ...rows.map((row) => line(cells(row))),
  ].join('\n');
}
