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

/** What a results file holds: the generated table's rows, its notes per benchmark, and hand-written sections. */
export interface ResultsFile {
  rows: ResultRow[];
  /** `- name: …` lines under the table, by benchmark name (the whole line without `- `). */
  notes: Map<string, string>;
  /** Everything from the first `## ` heading on (written by hand, kept as is). */
  sections: string;
}

/** Reads a results.md written by {@link writeResultsFile} (or by the overwriting version before it). */
export function parseResultsFile(text: string): ResultsFile {
  const lines = text.split('\n');
  const sectionStart = lines.findIndex((line) => line.startsWith('## '));
  const generated = sectionStart === -1 ? lines : lines.slice(0, sectionStart);
  const sections = sectionStart === -1 ? '' : lines.slice(sectionStart).join('\n');
  const rows: ResultRow[] = [];
  const notes = new Map<string, string>();
  for (const line of generated) {
    if (line.startsWith('| ') && line.endsWith(' |')) {
      const cells = line
        .slice(2, -2)
        .split(' | ')
        .map((cell) => cell.trim());
      if (cells.length !== HEADER.length || cells[0] === HEADER[0] || /^-+$/.test(cells[0]!)) continue;
      const [benchmark, figure, measured, target, result] = cells as [string, string, string, string, string];
      const verdict: Verdict = result === 'pass' || result === 'miss' ? result : 'info';
      rows.push({ benchmark, figure, measured, target, verdict });
    } else if (line.startsWith('- ')) {
      const name = /^- ([\w-]+)[: (]/.exec(line)?.[1];
      if (name) notes.set(name, line.slice(2));
    }
  }
  return { rows, notes, sections };
}

/**
 * The table after a run of some benchmarks: the rows of those benchmarks replaced by the fresh ones,
 * every other row kept; in the order of `order` (the known benchmarks), unknown ones last.
 */
export function mergeResultRows(
  previous: readonly ResultRow[],
  fresh: readonly ResultRow[],
  ran: readonly string[],
  order: readonly string[],
): ResultRow[] {
  const kept = previous.filter((row) => !ran.includes(row.benchmark));
  const all = [...kept, ...fresh];
  const rank = (name: string) => {
    const index = order.indexOf(name);
    return index === -1 ? order.length : index;
  };
  // a stable sort: rows of one benchmark keep their order
  return all
    .map((row, index) => ({ row, index }))
    .sort((a, b) => rank(a.row.benchmark) - rank(b.row.benchmark) || a.index - b.index)
    .map(({ row }) => row);
}
