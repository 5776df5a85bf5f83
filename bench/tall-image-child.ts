/**
 * The child process of the tall-image benchmark: measures and tiles one PNG the way the intake does,
 * and prints its own RSS figures as one JSON line. Run by bench/tall-image.ts, not by hand:
 * `node --import tsx bench/tall-image-child.ts <png> <spool dir>`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { prepareReportImages } from '../src/imaging/report-images.js';

function rss(field: 'VmRSS' | 'VmHWM'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  return Number(match![1]) * 1024;
}

const [pngPath, spoolDir] = process.argv.slice(2) as [string, string];
// warm up: libvips loaded and its threads started, as in a bot that has sent a report before
await sharp({ create: { width: 64, height: 64, channels: 3, background: '#fff' } })
  .png()
  .toBuffer();
const { size } = await import('node:fs').then((fs) => fs.statSync(pngPath));
const file = {
  filename: 'Dashboard.png',
  contentType: 'image/png' as const,
  size,
  sha256: '0'.repeat(64),
  path: pngPath,
};
global.gc?.();
await new Promise((resolve) => setTimeout(resolve, 500));
const baselineRssBytes = rss('VmRSS');
writeFileSync('/proc/self/clear_refs', '5'); // peak RSS from here
const startedAt = Date.now();
const { files, problems } = await prepareReportImages([file], spoolDir, {
  limits: { photoMaxRatio: 3, photoMaxDimensionSum: 10_000 },
  makeTiles: true,
});
const elapsedMs = Date.now() - startedAt;
console.log(
  JSON.stringify({
    baselineRssBytes,
    peakRssBytes: rss('VmHWM'),
    elapsedMs,
    tiles: files[0]?.tiles?.length ?? 0,
    tileDir: files[0]?.tiles?.[0] ? path.dirname(files[0].tiles[0].path) : null,
    problems,
  }),
);
