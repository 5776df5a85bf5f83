/**
 * The image work done once per report, at intake, before the report is recorded: every PNG is measured
 * (is it blank?), and a tall one is cut into tiles spooled next to the report's files. The tiles are
 * ordinary report files from then on: uploaded once, then fanned out by file_id like any file.
 *
 * Crash safety: tiles are written under a temporary name, fsynced, and renamed when complete, inside the
 * mail's own spool directory, which is only referenced once the report is recorded; the directories that
 * name them are fsynced too before this returns, so a power cut after the report row is committed
 * (synchronous=FULL) cannot leave it pointing at a missing or empty tile. A crash before that leaves an
 * orphan directory the start-up clean-up removes, and the mail is read and tiled again.
 */
import { createHash } from 'node:crypto';
import {
  closeSync,
  createReadStream,
  fsyncSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import type { ReportFile } from '../core/report.js';
import { findTileCuts, type TileCutOptions, type TileRange } from '../core/tile-cuts.js';
import { type AnalysisOptions, analyseImage, DEFAULT_MAX_PIXELS } from './image-analysis.js';

/** The photo limits a tile must meet (see PlanLimits in src/core/message-plan.ts). */
export interface TileLimits {
  /** PHOTO_MAX_ASPECT_RATIO: longest tile is width × this. */
  photoMaxRatio: number;
  /** Telegram: width + height of a photo at most this (10000). */
  photoMaxDimensionSum: number;
}

export interface ReportImageOptions extends AnalysisOptions, TileCutOptions {
  limits: TileLimits;
  /** Whether tall PNGs are cut (false when no recipient can want tiles, e.g. TALL_IMAGE_MODE=document everywhere). */
  makeTiles: boolean;
}

/** What became of one PNG that could not be measured or tiled; it still goes as it is. */
export interface ImageProblem {
  filename: string;
  reason: string;
}

/** The largest tile height for an image `width` wide, or 0 when no tile of that width can be a photo. */
export function maxTileHeight(width: number, limits: TileLimits): number {
  return Math.max(0, Math.min(Math.floor(width * limits.photoMaxRatio), limits.photoMaxDimensionSum - width));
}

/** Whether a PNG is too tall to be a readable photo and can be cut into tiles that are. */
export function isTallImage(width: number, height: number, limits: TileLimits): boolean {
  const tileHeight = maxTileHeight(width, limits);
  return height > width && tileHeight > 0 && height > tileHeight;
}

/**
 * Measures every PNG of `files` and tiles the tall ones into `spoolDir/tiles/`. Returns the files with
 * `backgroundShare` and `tiles` set where that worked; a PNG that could not be read (a decompression bomb,
 * a broken file) is returned unchanged with a problem, so it still goes as a document.
 */
export async function prepareReportImages(
  files: readonly ReportFile[],
  spoolDir: string,
  options: ReportImageOptions,
): Promise<{ files: ReportFile[]; problems: ImageProblem[] }> {
  const prepared: ReportFile[] = [];
  const problems: ImageProblem[] = [];
  for (const [index, file] of files.entries()) {
    if (file.contentType !== 'image/png') {
      prepared.push(file);
      continue;
    }
    const tileDir = path.join(spoolDir, 'tiles', String(index));
    try {
      const analysis = await analyseImage(file.path, options);
      const measured: ReportFile = { ...file, backgroundShare: round4(analysis.twoColourShare) };
      if (options.makeTiles && isTallImage(analysis.width, analysis.height, options.limits)) {
        const ranges = findTileCuts(
          analysis.height,
          maxTileHeight(analysis.width, options.limits),
          (row) => analysis.uniformRows[row] === 1,
          options,
        );
        measured.tiles = await writeTiles(file, analysis.width, ranges, tileDir, options.maxPixels);
        // the new names: tiles/<index> in tiles/, tiles/ in the spool directory
        fsyncPath(path.dirname(tileDir));
        fsyncPath(spoolDir);
      }
      prepared.push(measured);
    } catch (error) {
      rmSync(tileDir, { recursive: true, force: true });
      problems.push({
        filename: file.filename,
        reason: error instanceof Error ? error.message : String(error),
      });
      prepared.push(file);
    }
  }
  return { files: prepared, problems };
}

/** Extracts the tiles one at a time (each decode stops at its last row), each written then renamed. */
async function writeTiles(
  file: ReportFile,
  width: number,
  ranges: TileRange[],
  dir: string,
  maxPixels = DEFAULT_MAX_PIXELS,
): Promise<ReportFile[]> {
  mkdirSync(dir, { recursive: true });
  const base = file.filename.replace(/\.png$/i, '');
  const tiles: ReportFile[] = [];
  for (const [index, range] of ranges.entries()) {
    const name = `${base} (${index + 1}-${ranges.length}).png`;
    const finalPath = path.join(dir, `${index + 1}.png`);
    const partPath = `${finalPath}.part`;
    await sharp(file.path, { limitInputPixels: maxPixels, sequentialRead: true })
      .extract({ left: 0, top: range.top, width, height: range.height })
      .png({ compressionLevel: 6 })
      .toFile(partPath);
    fsyncPath(partPath);
    renameSync(partPath, finalPath);
    tiles.push({
      filename: name,
      contentType: 'image/png',
      size: statSync(finalPath).size,
      sha256: await sha256Of(finalPath),
      path: finalPath,
      width,
      height: range.height,
    });
  }
  fsyncPath(dir);
  return tiles;
}

/** Flushes a file's bytes, or a directory's entries, to the disk. */
function fsyncPath(target: string): void {
  const fd = openSync(target, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function sha256Of(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(file)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

function round4(value: number): number {
  return Math.round(value * 10_000) / 10_000;
}
