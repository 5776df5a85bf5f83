/**
 * One bounded pass over a PNG with sharp (libvips): the image is decoded sequentially, flattened on
 * white and narrowed to at most {@link ANALYSIS_WIDTH} columns (its rows kept), so a 1600×30000
 * screenshot costs a few tens of MiB, not the 180 MiB of its full RGB pixels. From that pass come which
 * rows are uniform (where a tall image may be cut) and how much of the image is its most common colour
 * (a blank or unfinished screenshot).
 */
import sharp from 'sharp';

// libvips' operation cache would keep decoded images of past reports alive: nothing here is repeated
sharp.cache(false);

/** Columns the analysis looks at; wider images are narrowed to this (rows are never merged). */
export const ANALYSIS_WIDTH = 320;

/**
 * Largest image (width × height) the bot decodes, default for {@link AnalysisOptions.maxPixels}:
 * 1600×30000 is 48 Mpx, so 100 Mpx leaves room for Superset's widest screenshots (2400 px) at
 * 40000 rows, while a decompression bomb (a small PNG claiming 100000×100000) is refused before decoding.
 */
export const DEFAULT_MAX_PIXELS = 100_000_000;

/** A PNG the bot will not decode: its header claims more pixels than allowed (a decompression bomb?). */
export class ImageTooLargeError extends Error {
  constructor(
    readonly width: number,
    readonly height: number,
    readonly maxPixels: number,
  ) {
    super(`the image claims ${width}×${height} pixels, more than the ${maxPixels} the bot decodes`);
    this.name = 'ImageTooLargeError';
  }
}

export interface AnalysisOptions {
  /** Refuse images with more pixels than this (default {@link DEFAULT_MAX_PIXELS}). */
  maxPixels?: number;
  /**
   * Largest difference (0–255, per channel) between the pixels of a row that still counts as one
   * colour. Default 6: JPEG-free screenshots have exact backgrounds; this absorbs the narrowing's blur.
   */
  rowTolerance?: number;
}

export interface ImageAnalysis {
  width: number;
  height: number;
  /** 1 where row y is one colour (within the tolerance), else 0; `height` entries. */
  uniformRows: Uint8Array;
  /** Share (0–1) of the pixels that have the most common colour (channels quantised to 32 levels). */
  dominantShare: number;
  /** Share (0–1) of the pixels in the two most common colours (a page background and card colour). */
  twoColourShare: number;
}

/** Reads `path` once and measures it. Throws {@link ImageTooLargeError} before decoding a bomb. */
export async function analyseImage(path: string, options: AnalysisOptions = {}): Promise<ImageAnalysis> {
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  const tolerance = options.rowTolerance ?? 6;
  const { width, height } = await imageSize(path, maxPixels);
  const columns = Math.min(width, ANALYSIS_WIDTH);
  const { data } = await sharp(path, { limitInputPixels: maxPixels, sequentialRead: true })
    .flatten({ background: '#ffffff' })
    .toColourspace('srgb')
    .resize({ width: columns, height, fit: 'fill', kernel: 'linear' })
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });

  const uniformRows = new Uint8Array(height);
  const histogram = new Uint32Array(32 * 32 * 32);
  const rowBytes = columns * 3;
  for (let row = 0; row < height; row++) {
    const offset = row * rowBytes;
    let rMin = 255;
    let rMax = 0;
    let gMin = 255;
    let gMax = 0;
    let bMin = 255;
    let bMax = 0;
    for (let i = offset; i < offset + rowBytes; i += 3) {
      const r = data[i]!;
      const g = data[i + 1]!;
      const b = data[i + 2]!;
      if (r < rMin) rMin = r;
      if (r > rMax) rMax = r;
      if (g < gMin) gMin = g;
      if (g > gMax) gMax = g;
      if (b < bMin) bMin = b;
      if (b > bMax) bMax = b;
      histogram[((r >> 3) << 10) | ((g >> 3) << 5) | (b >> 3)]!++;
    }
    if (rMax - rMin <= tolerance && gMax - gMin <= tolerance && bMax - bMin <= tolerance)
      uniformRows[row] = 1;
  }
  let most = 0;
  let second = 0;
  for (const count of histogram) {
    if (count > most) {
      second = most;
      most = count;
    } else if (count > second) second = count;
  }
  const pixels = columns * height;
  return {
    width,
    height,
    uniformRows,
    dominantShare: most / pixels,
    twoColourShare: (most + second) / pixels,
  };
}

/** The image's size from its header, refusing one past `maxPixels` before anything is decoded. */
export async function imageSize(path: string, maxPixels: number): Promise<{ width: number; height: number }> {
  const { width, height } = await sharp(path, { limitInputPixels: false }).metadata();
  if (!width || !height) throw new Error('the image has no size in its header');
  if (width * height > maxPixels) throw new ImageTooLargeError(width, height, maxPixels);
  return { width, height };
}
