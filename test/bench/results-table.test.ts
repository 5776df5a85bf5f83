import { describe, expect, it } from 'vitest';
import {
  informational,
  judged,
  markdownTable,
  mergeResultRows,
  parseResultsFile,
} from '../../bench/results-table.js';

const earlier = [
  informational('fan-out', 'wall time', '135.7 s (least 133.3 s)'),
  judged('fan-out', 'wall time ÷ least possible', '1.018', '≤ 1.05', true),
  judged('latency', 'bot median − bare median', '+13 ms', '≤ +100 ms', true),
  judged('big-pdf', 'peak RSS − idle RSS', '+52.2 MiB', '≤ +150 MiB', false),
];

const file = [
  '# Benchmark results',
  '',
  'Run of 2026-11-24T08:58:47.717Z on a machine.',
  '',
  markdownTable(earlier),
  '',
  '- fan-out: 144 s, 1-minute load average 1.84 → 0.34',
  '- latency (2026-12-04T04:00:00.000Z): 96 s, 1-minute load average 0.34 → 0.24',
  '',
  '## Partial runs (by hand)',
  '',
  '| Benchmark | Figure | Measured | Target | Result |',
  '| paid-broadcast | ratio | 1.119 | ≤ 1.05 | miss |',
  '',
].join('\n');

describe('bench results file', () => {
  it('reads back the rows, the notes and the hand-written sections', () => {
    const parsed = parseResultsFile(file);
    expect(parsed.rows).toEqual(earlier);
    expect([...parsed.notes.keys()]).toEqual(['fan-out', 'latency']);
    expect(parsed.notes.get('latency')).toBe(
      'latency (2026-12-04T04:00:00.000Z): 96 s, 1-minute load average 0.34 → 0.24',
    );
    expect(parsed.sections).toContain('| paid-broadcast | ratio | 1.119 | ≤ 1.05 | miss |');
    expect(parsed.sections.startsWith('## Partial runs')).toBe(true);
  });

  it('replaces only the rows of the benchmarks that ran, in the benchmarks’ order', () => {
    const fresh = [
      judged('latency', 'bot median − bare median', '+140 ms', '≤ +100 ms', false),
      informational('failover', 'kill → first send, median / max', '5.1 / 6.0 s'),
    ];
    const merged = mergeResultRows(
      parseResultsFile(file).rows,
      fresh,
      ['latency', 'failover'],
      ['fan-out', 'latency', 'failover', 'big-pdf'],
    );
    expect(merged.map((row) => `${row.benchmark}: ${row.measured}`)).toEqual([
      'fan-out: 135.7 s (least 133.3 s)',
      'fan-out: 1.018',
      'latency: +140 ms',
      'failover: 5.1 / 6.0 s',
      'big-pdf: +52.2 MiB',
    ]);
  });
});
