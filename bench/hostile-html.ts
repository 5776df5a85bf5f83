/**
 * Mail built to stall an HTML parser (2 MB bodies of unclosed `<a` tags, nested tags, megabyte
 * attribute values, closing tags that match nothing; test/fixtures/hostile-mail.ts): how long `parseMail`
 * takes for each, and the longest the event loop is held meanwhile. Issue 11 part 5's budget: under
 * 200 ms per mail and under 100 ms of event-loop delay. Runs in this process, median of five.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { parseMail } from '../src/mail/mail-parser.js';
import { STALLING_HTML_PREFIX, stallingHtmlFixtures } from '../test/fixtures/hostile-mail.js';
import { judged, type ResultRow } from './results-table.js';

const NAME = 'hostile-html';
const RUNS = 5;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

export async function hostileHtmlBenchmark(): Promise<ResultRow[]> {
  const spoolRoot = mkdtempSync(path.join(tmpdir(), 'stb-bench-html-'));
  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  const rows: ResultRow[] = [];
  try {
    for (const fixture of stallingHtmlFixtures()) {
      const durations: number[] = [];
      const delays: number[] = [];
      for (let run = 0; run < RUNS; run++) {
        delay.reset();
        const started = performance.now();
        // one chunk: an IMAP download may hand the whole message over at once
        await parseMail(Readable.from([fixture.raw]), {
          spoolDir: path.join(spoolRoot, `${run}`),
          maxFileBytes: 1024 * 1024,
        });
        durations.push(performance.now() - started);
        // let the monitor see the last turn
        await new Promise((resolve) => setTimeout(resolve, 20));
        delays.push(delay.max / 1e6);
      }
      const what = fixture.name.slice(STALLING_HTML_PREFIX.length).trim();
      const ms = median(durations);
      const held = median(delays);
      rows.push(judged(NAME, `parse: ${what}`, `${ms.toFixed(0)} ms`, '< 200 ms', ms < 200));
      rows.push(judged(NAME, `event-loop delay: ${what}`, `${held.toFixed(0)} ms`, '< 100 ms', held < 100));
    }
  } finally {
    delay.disable();
    rmSync(spoolRoot, { recursive: true, force: true });
  }
  return rows;
}
