/**
 * Where to cut a tall image into tiles that Telegram shows readably as photos: each tile at most
 * `maxTileHeight` tall, cut in a uniform horizontal band (the gap between two dashboard rows) when one
 * lies within reach of the ideal cut, so a chart is not split in the middle; otherwise cut at the
 * ideal place and let the next tile repeat a few rows above it. Plain data: the rows' uniformity is
 * measured elsewhere (src/imaging/).
 */

/** One tile: rows `top` to `top + height - 1` of the image. */
export interface TileRange {
  top: number;
  height: number;
}

/** Tuning of {@link findTileCuts}; every field has a default. */
export interface TileCutOptions {
  /**
   * Fewest consecutive uniform rows that make a gap worth cutting in. Default 6: Superset leaves
   * 8 px or more between dashboard rows, while a chart's own blank lines are rarely that many.
   */
  minGapRows?: number;
  /**
   * How far from the ideal cut a gap may lie, as a share of the largest tile height. Default 0.2;
   * from 0 to 0.5 (further, the tiles get very unequal).
   */
  reach?: number;
  /** Rows the next tile repeats when no gap was found (default 24), so a cut line of text is readable in one. */
  overlapRows?: number;
}

const DEFAULTS: Required<TileCutOptions> = { minGapRows: 6, reach: 0.2, overlapRows: 24 };

/**
 * The tiles of an image `height` rows tall, top to bottom; `isUniformRow(y)` says whether row `y` is
 * one colour. One tile `[0, height)` when the image fits in one. Every tile is at most `maxTileHeight`
 * rows, consecutive tiles touch (cut in a gap) or overlap by `overlapRows` (no gap within reach), and
 * together they cover every row.
 */
export function findTileCuts(
  height: number,
  maxTileHeight: number,
  isUniformRow: (row: number) => boolean,
  options: TileCutOptions = {},
): TileRange[] {
  const { minGapRows, reach, overlapRows } = { ...DEFAULTS, ...options };
  if (!Number.isInteger(height) || height < 1)
    throw new RangeError(`height must be a positive integer, got ${height}`);
  if (!Number.isInteger(maxTileHeight) || maxTileHeight < 1)
    throw new RangeError(`maxTileHeight must be a positive integer, got ${maxTileHeight}`);
  if (!(reach >= 0 && reach <= 0.5)) throw new RangeError(`reach must be from 0 to 0.5, got ${reach}`);
  // the overlap must leave each tile real progress
  const overlap = Math.max(0, Math.min(overlapRows, Math.floor(maxTileHeight / 4)));
  const reachRows = Math.floor(maxTileHeight * reach);
  const inImage = (row: number) => row >= 0 && row < height && isUniformRow(row);

  const tiles: TileRange[] = [];
  let top = 0;
  while (height - top > maxTileHeight) {
    const tilesLeft = Math.ceil((height - top) / maxTileHeight);
    const ideal = top + Math.round((height - top) / tilesLeft);
    // a cut at row c ends the tile at c - 1; the tile may not exceed maxTileHeight
    const lowest = Math.max(top + overlap + 1, ideal - reachRows);
    const highest = Math.min(top + maxTileHeight, ideal + reachRows);
    const gapCut = nearestGapCut(lowest, highest, ideal, minGapRows, inImage);
    if (gapCut !== null) {
      tiles.push({ top, height: gapCut - top });
      top = gapCut;
    } else {
      const cut = Math.min(ideal, top + maxTileHeight);
      tiles.push({ top, height: cut - top });
      top = cut - overlap;
    }
  }
  tiles.push({ top, height: height - top });
  return tiles;
}

/**
 * The cut nearest to `ideal` that lies in the middle of a run of at least `minGapRows` uniform rows,
 * clipped to `[lowest, highest]`; null when no such run touches that window.
 */
function nearestGapCut(
  lowest: number,
  highest: number,
  ideal: number,
  minGapRows: number,
  isUniformRow: (row: number) => boolean,
): number | null {
  if (highest < lowest) return null;
  let best: number | null = null;
  // runs are measured in full, also where they reach past the window: a gap's middle may lie outside it
  let row = Math.max(0, lowest - minGapRows);
  const end = highest + minGapRows;
  while (row <= end) {
    if (!isUniformRow(row)) {
      row++;
      continue;
    }
    const start = row;
    while (row <= end + minGapRows && isUniformRow(row)) row++;
    const length = row - start;
    if (length < minGapRows) continue;
    const middle = start + Math.floor(length / 2);
    const cut = Math.min(Math.max(middle, lowest), highest);
    // the clipped cut must still fall inside the gap
    if (cut < start || cut >= row) continue;
    if (best === null || Math.abs(cut - ideal) < Math.abs(best - ideal)) best = cut;
  }
  return best;
}
