/**
 * `npm run bench [-- NAME...]`: builds the bot, runs the benchmarks one after another (all of them, or
 * those named), prints one table with the target beside each figure and writes it to bench/results.md:
 * the rows of the benchmarks that ran are replaced, the others' rows (and any hand-written `## ` section
 * at the end) are kept. A benchmark that fails is reported in the table and the others still run; the exit code is 1 then.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bigPdfBenchmark } from './big-pdf.js';
import { failoverBenchmark } from './failover.js';
import { fanOutBenchmark, fanOutScaleBenchmark, paidBroadcastBenchmark } from './fan-out.js';
import { hostileHtmlBenchmark } from './hostile-html.js';
import { idleMailboxesBenchmark } from './idle-mailboxes.js';
import { latencyBenchmark } from './latency.js';
import { loadAverage } from './process-stats.js';
import { Resources } from './resources.js';
import { markdownTable, mergeResultRows, parseResultsFile, type ResultRow } from './results-table.js';
import { tallImageBenchmark } from './tall-image.js';
import { webhookLatencyBenchmark } from './webhook-latency.js';

const BENCHMARKS: Record<string, () => Promise<ResultRow[]>> = {
  'fan-out': () => fanOutBenchmark(),
  'fan-out-postgres': () => fanOutBenchmark({ engine: 'postgres' }),
  'fan-out-scale': () => fanOutScaleBenchmark(),
  'paid-broadcast': () => paidBroadcastBenchmark(),
  latency: () => latencyBenchmark(),
  'latency-postgres': () => latencyBenchmark({ engine: 'postgres' }),
  'webhook-latency': () => webhookLatencyBenchmark(),
  'idle-mailboxes': () => idleMailboxesBenchmark(),
  'big-pdf': () => bigPdfBenchmark(),
  'hostile-html': () => hostileHtmlBenchmark(),
  'tall-image': () => tallImageBenchmark(),
  failover: () => failoverBenchmark(),
};

const RESULTS_FILE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results.md');

function dovecotVersion(): string {
  try {
    return execFileSync('dovecot', ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<number> {
  const requested = process.argv.slice(2);
  const unknown = requested.filter((name) => !(name in BENCHMARKS));
  if (unknown.length > 0) {
    console.error(
      `unknown benchmark(s): ${unknown.join(', ')}; known: ${Object.keys(BENCHMARKS).join(', ')}`,
    );
    return 2;
  }
  const names = requested.length > 0 ? requested : Object.keys(BENCHMARKS);
  const rows: ResultRow[] = [];
  const notes = new Map<string, string>();
  let failed = false;
  for (const name of names) {
    const loadBefore = loadAverage();
    const startedAt = Date.now();
    console.log(`\n== ${name} (load average ${loadBefore.toFixed(2)})`);
    try {
      rows.push(...(await BENCHMARKS[name]!()));
    } catch (error) {
      failed = true;
      const message = error instanceof Error ? error.message : String(error);
      console.error(`${name} failed:`, error);
      rows.push({
        benchmark: name,
        figure: 'run',
        measured: `error: ${message}`,
        target: 'completes',
        verdict: 'miss',
      });
    }
    notes.set(
      name,
      `${name} (${new Date(startedAt).toISOString()}): ${((Date.now() - startedAt) / 1000).toFixed(0)} s, 1-minute load average ${loadBefore.toFixed(2)} → ${loadAverage().toFixed(2)}`,
    );
  }

  console.log(`\n${markdownTable(rows)}\n`);
  const machine = `${os.cpus().length} CPU cores (${os.cpus()[0]?.model.trim() ?? 'unknown'}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Node ${process.version}, Dovecot ${dovecotVersion()}`;
  // only the rows of the benchmarks run now change: `npm run bench -- NAME` keeps the others
  const previous = existsSync(RESULTS_FILE)
    ? parseResultsFile(readFileSync(RESULTS_FILE, 'utf8'))
    : { rows: [], notes: new Map<string, string>(), sections: '' };
  const order = Object.keys(BENCHMARKS);
  const merged = mergeResultRows(previous.rows, rows, names, order);
  const mergedNotes = new Map([...previous.notes].filter(([name]) => !notes.has(name)));
  for (const [name, note] of notes) mergedNotes.set(name, note);
  const rank = (name: string) => (order.includes(name) ? order.indexOf(name) : order.length);
  const noteLines = [...mergedNotes].sort(([a], [b]) => rank(a) - rank(b)).map(([, note]) => `- ${note}`);
  writeFileSync(
    RESULTS_FILE,
    [
      '# Benchmark results',
      '',
      `Last run ${new Date().toISOString()} (${names.join(', ')}) on ${machine}; the other rows are from earlier runs (when: the notes under the table). How each figure is measured: bench/README.md.`,
      'RSS and memory figures are MiB (2^20 bytes). CPU % is of one core.',
      '',
      markdownTable(merged),
      '',
      ...noteLines,
      '',
      ...(previous.sections ? [previous.sections.trimEnd(), ''] : []),
    ].join('\n'),
  );
  console.log(`written to ${path.relative(process.cwd(), RESULTS_FILE)}`);
  return failed ? 1 : 0;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping the bot processes and Dovecot, removing temp dirs…`);
    void Resources.releaseAll().finally(() => process.exit(130));
  });
}

process.exitCode = await main();
