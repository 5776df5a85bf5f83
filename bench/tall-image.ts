/**
 * A 1600×30000 dashboard screenshot (issue 13 part 1): how far does the RSS of the process that
 * measures and tiles it rise above its idle RSS, and how long does it take? Measured in a child
 * process (bench/tall-image-child.ts) so the figures are the image work's alone. Target: ≤ +200 MiB.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stripedPng } from '../test/support/dashboard-images.js';
import { MIB, mib } from './process-stats.js';
import { informational, judged, type ResultRow } from './results-table.js';

const NAME = 'tall-image';
const WIDTH = 1600;
const HEIGHT = 30_000;
const GROWTH_TARGET_BYTES = 200 * MIB;

export async function tallImageBenchmark(): Promise<ResultRow[]> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-tall-image-'));
  try {
    // rows of charts 420 px tall with Superset's 16 px gaps between them
    const gaps: number[] = [];
    for (let top = 420; top < HEIGHT; top += 436) gaps.push(top);
    const png = await stripedPng(WIDTH, HEIGHT, gaps);
    const pngPath = path.join(dir, 'dashboard.png');
    writeFileSync(pngPath, png);
    const child = path.join(path.dirname(fileURLToPath(import.meta.url)), 'tall-image-child.ts');
    const run = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', child, pngPath, dir], {
      encoding: 'utf8',
      timeout: 300_000,
    });
    if (run.status !== 0) throw new Error(`the child failed (${run.status}): ${run.stderr.slice(-500)}`);
    const result = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as {
      baselineRssBytes: number;
      peakRssBytes: number;
      elapsedMs: number;
      tiles: number;
      problems: unknown[];
    };
    if (result.problems.length > 0)
      throw new Error(`the image was not tiled: ${JSON.stringify(result.problems)}`);
    const growth = result.peakRssBytes - result.baselineRssBytes;
    return [
      judged(
        NAME,
        `peak RSS above idle, measuring and tiling a ${WIDTH}×${HEIGHT} PNG (${(png.length / MIB).toFixed(1)} MiB)`,
        `+${mib(growth)}`,
        `≤ +${mib(GROWTH_TARGET_BYTES)}`,
        growth <= GROWTH_TARGET_BYTES,
      ),
      informational(
        NAME,
        'time to measure and cut it (once per report)',
        `${(result.elapsedMs / 1000).toFixed(1)} s`,
      ),
      informational(NAME, 'tiles (at PHOTO_MAX_ASPECT_RATIO 3)', String(result.tiles)),
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
