/**
 * The intake's image work on real PNGs made with sharp: tall dashboards cut in their gaps, images
 * without gaps cut with an overlap, blank and unfinished screenshots told from rendered ones, and
 * unreadable images (a decompression bomb, a truncated file) left whole with a clear reason.
 */
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import type { ReportFile } from '../../src/core/report.js';
import { analyseImage, ImageTooLargeError } from '../../src/imaging/image-analysis.js';
import { isTallImage, maxTileHeight, prepareReportImages } from '../../src/imaging/report-images.js';
import { makePng } from '../fixtures/sample-files.js';
import { blankPng, dashboardPng, spinnerPng, stripedPng } from '../support/dashboard-images.js';

const dir = mkdtempSync(path.join(tmpdir(), 'report-images-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const limits = { photoMaxRatio: 3, photoMaxDimensionSum: 10_000 };

let counter = 0;
/** Spools `png` as a report file, in its own spool directory. */
function spooled(png: Buffer, name = 'Sales.png'): { file: ReportFile; spoolDir: string } {
  const spoolDir = path.join(dir, `mail-${++counter}`);
  const filePath = path.join(spoolDir, name);
  mkdirSync(spoolDir, { recursive: true });
  writeFileSync(filePath, png);
  return {
    spoolDir,
    file: {
      filename: name,
      contentType: 'image/png',
      size: png.length,
      sha256: createHash('sha256').update(png).digest('hex'),
      path: filePath,
    },
  };
}

/** Row `y` of a PNG as raw RGB bytes. */
async function rowOf(file: string, y: number): Promise<Buffer> {
  const { width } = await sharp(file).metadata();
  return sharp(file).extract({ left: 0, top: y, width: width!, height: 1 }).removeAlpha().raw().toBuffer();
}

describe('tall image tiles', () => {
  it('knows which images are tall for the limits', () => {
    expect(maxTileHeight(1600, limits)).toBe(4800);
    expect(maxTileHeight(9000, limits)).toBe(1000);
    expect(isTallImage(1600, 4800, limits)).toBe(false);
    expect(isTallImage(1600, 4801, limits)).toBe(true);
    expect(isTallImage(9000, 400, limits)).toBe(false); // wide, not tall
    expect(isTallImage(10_000, 20_000, limits)).toBe(false); // no tile of that width can be a photo
  });

  it('cuts a 1600×9000 dashboard between its rows, into tiles within the ratio', async () => {
    const { png, rowTops } = await dashboardPng({ width: 1600, height: 9000, seed: 5 });
    const { file, spoolDir } = spooled(png);
    const { files, problems } = await prepareReportImages([file], spoolDir, { limits, makeTiles: true });
    expect(problems).toEqual([]);
    const tiles = files[0]!.tiles!;
    expect(tiles.length).toBe(2);
    let top = 0;
    for (const tile of tiles) {
      expect(tile.width).toBe(1600);
      expect(tile.height!).toBeLessThanOrEqual(4800);
      expect(tile.contentType).toBe('image/png');
      const bytes = readFileSync(tile.path);
      expect(tile.size).toBe(bytes.length);
      expect(tile.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
      expect((await sharp(tile.path).metadata()).height).toBe(tile.height);
      if (top > 0) {
        // the cut lies in the 16-row gap above a row of cards, and the tile starts with the original's row
        expect(rowTops.some((rowTop) => top >= rowTop - 16 && top < rowTop)).toBe(true);
        expect((await rowOf(tile.path, 0)).equals(await rowOf(file.path, top))).toBe(true);
      }
      top += tile.height!;
    }
    expect(top).toBe(9000);
    expect(tiles.map((tile) => tile.filename)).toEqual(['Sales (1-2).png', 'Sales (2-2).png']);
    // complete tiles only: no temporary file is left behind
    expect(readdirSync(path.dirname(tiles[0]!.path)).sort()).toEqual(['1.png', '2.png']);
  });

  it('overlaps the tiles of an image without gaps', async () => {
    const png = await stripedPng(400, 3000, []);
    const { file, spoolDir } = spooled(png);
    const { files } = await prepareReportImages([file], spoolDir, { limits, makeTiles: true });
    const tiles = files[0]!.tiles!;
    // 400 wide → tiles up to 1200 rows: 3 tiles, each repeating 24 rows of the one before
    // (the second and third share what is left after the first overlap)
    expect(tiles.map((tile) => tile.height)).toEqual([1000, 1012, 1036]);
    expect((await rowOf(tiles[1]!.path, 0)).equals(await rowOf(file.path, 976))).toBe(true);
  });

  it('measures but does not cut when no recipient wants tiles, and leaves PDFs alone', async () => {
    const { png } = await dashboardPng({ width: 1600, height: 9000 });
    const { file, spoolDir } = spooled(png);
    const pdf: ReportFile = {
      ...file,
      filename: 'a.pdf',
      contentType: 'application/pdf',
      path: '/nonexistent',
    };
    const { files, problems } = await prepareReportImages([pdf, file], spoolDir, {
      limits,
      makeTiles: false,
    });
    expect(problems).toEqual([]);
    expect(files[0]).toEqual(pdf);
    expect(files[1]!.tiles).toBeUndefined();
    expect(files[1]!.backgroundShare).toBeGreaterThan(0.5);
    expect(existsSync(path.join(spoolDir, 'tiles'))).toBe(false);
  });

  it('leaves a decompression bomb and a broken PNG whole, with the reason', async () => {
    // a valid header claiming 100000×100000 pixels (10 Gpx) over a few bytes of data
    const bomb = makePng(1, 1);
    bomb.writeUInt32BE(100_000, 16);
    bomb.writeUInt32BE(100_000, 20);
    bomb.writeUInt32BE(crc32(bomb.subarray(12, 29)), 29); // the IHDR's checksum, so the header is valid
    const broken = (await dashboardPng({ width: 800, height: 3000 })).png.subarray(0, 5000);
    const a = spooled(bomb, 'bomb.png');
    const b = spooled(broken, 'broken.png');
    const { files, problems } = await prepareReportImages([a.file, b.file], a.spoolDir, {
      limits,
      makeTiles: true,
    });
    expect(files).toEqual([a.file, b.file]);
    expect(problems.map((problem) => problem.filename)).toEqual(['bomb.png', 'broken.png']);
    expect(problems[0]!.reason).toMatch(/claims 100000×100000 pixels, more than the 100000000/);
    await expect(analyseImage(a.file.path)).rejects.toBeInstanceOf(ImageTooLargeError);
    expect(existsSync(path.join(a.spoolDir, 'tiles', '1'))).toBe(false);
  });
});

describe('blank screenshot measure', () => {
  /** The measure the intake compares with BLANK_SCREENSHOT_SHARE (0.98 by default). */
  async function backgroundShare(png: Buffer): Promise<number> {
    const { file, spoolDir } = spooled(png);
    const { files } = await prepareReportImages([file], spoolDir, { limits, makeTiles: false });
    return files[0]!.backgroundShare!;
  }

  it('tells blank, spinner and empty-card screenshots from rendered dashboards', async () => {
    const rendered = [
      (await dashboardPng({ width: 1600, height: 3000 })).png,
      (await dashboardPng({ width: 1000, height: 1200, seed: 3 })).png,
      (await dashboardPng({ width: 1600, height: 2000, rowHeight: 900 })).png,
      (await dashboardPng({ width: 1600, height: 1400, content: 'big-numbers' })).png,
    ];
    const blank = [
      await blankPng(1600, 3000),
      await blankPng(1600, 3000, '#f7f7f7'),
      await spinnerPng(1600, 1200),
      await spinnerPng(800, 600),
      (await dashboardPng({ width: 1600, height: 3000, content: 'spinners' })).png,
    ];
    for (const png of rendered) expect(await backgroundShare(png)).toBeLessThan(0.96);
    for (const png of blank) expect(await backgroundShare(png)).toBeGreaterThanOrEqual(0.985);
  });
});
