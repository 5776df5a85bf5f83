import { describe, expect, it } from 'vitest';
import { findTileCuts, type TileRange } from '../../src/core/tile-cuts.js';

/** Rows of an image with uniform bands `[top, top + height)`; every other row is busy. */
function withGaps(gaps: Array<[number, number]>): (row: number) => boolean {
  return (row) => gaps.some(([top, height]) => row >= top && row < top + height);
}

const noGaps = () => false;

/** Every tile within the limit, the first at 0, the last ending at the bottom, no row left out. */
function expectCover(tiles: TileRange[], height: number, maxTile: number): void {
  expect(tiles[0]!.top).toBe(0);
  const last = tiles.at(-1)!;
  expect(last.top + last.height).toBe(height);
  for (const [index, tile] of tiles.entries()) {
    expect(tile.height).toBeGreaterThan(0);
    expect(tile.height).toBeLessThanOrEqual(maxTile);
    if (index > 0) {
      const previous = tiles[index - 1]!;
      // touching or overlapping: no row is skipped
      expect(tile.top).toBeLessThanOrEqual(previous.top + previous.height);
      expect(tile.top).toBeGreaterThan(previous.top);
    }
  }
}

describe('findTileCuts', () => {
  it('leaves an image that fits in one tile whole', () => {
    expect(findTileCuts(4000, 4800, noGaps)).toEqual([{ top: 0, height: 4000 }]);
    expect(findTileCuts(4800, 4800, noGaps)).toEqual([{ top: 0, height: 4800 }]);
  });

  it('cuts in the middle of the gap nearest to the ideal cut', () => {
    // 1600 wide at ratio 3: tiles up to 4800 rows; 9000 rows → 2 tiles, ideal cut at 4500
    const gaps: Array<[number, number]> = [
      [3000, 16],
      [4200, 16],
      [4610, 16],
      [6000, 16],
    ];
    const tiles = findTileCuts(9000, 4800, withGaps(gaps));
    expect(tiles).toEqual([
      { top: 0, height: 4618 },
      { top: 4618, height: 4382 },
    ]);
    expectCover(tiles, 9000, 4800);
  });

  it('cuts a 1600×30000 dashboard with a gap every 436 rows only in gaps', () => {
    const gaps: Array<[number, number]> = [];
    for (let top = 420; top < 30_000; top += 436) gaps.push([top, 16]);
    const uniform = withGaps(gaps);
    const tiles = findTileCuts(30_000, 4800, uniform);
    expectCover(tiles, 30_000, 4800);
    expect(tiles).toHaveLength(7);
    for (const tile of tiles.slice(1)) {
      // each cut row lies in a gap, and tiles touch (no overlap needed)
      expect(uniform(tile.top)).toBe(true);
    }
    for (let index = 1; index < tiles.length; index++) {
      expect(tiles[index]!.top).toBe(tiles[index - 1]!.top + tiles[index - 1]!.height);
    }
  });

  it('overlaps the tiles at the ideal cut when the image has no gap', () => {
    const tiles = findTileCuts(9000, 4800, noGaps, { overlapRows: 24 });
    expect(tiles).toEqual([
      { top: 0, height: 4500 },
      { top: 4476, height: 4524 },
    ]);
    expectCover(tiles, 9000, 4800);
  });

  it('overlaps when the only gap lies just out of reach of the ideal cut', () => {
    // reach 0.2 × 4800 = 960 rows: the ideal cut is 4500, so a gap centred at 4500 - 969 is out of reach
    const outOfReach = withGaps([[3523, 16]]);
    const tiles = findTileCuts(9000, 4800, outOfReach, { overlapRows: 24 });
    expect(tiles[0]).toEqual({ top: 0, height: 4500 });
    expect(tiles[1]!.top).toBe(4476);
    // the same gap a few rows nearer is taken
    const inReach = withGaps([[3560, 16]]);
    expect(findTileCuts(9000, 4800, inReach)[0]).toEqual({ top: 0, height: 3568 });
  });

  it('ignores bands thinner than minGapRows (a chart’s own blank line)', () => {
    const thin = withGaps([[4500, 3]]);
    expect(findTileCuts(9000, 4800, thin, { minGapRows: 6 })[1]!.top).toBe(4476);
    expect(findTileCuts(9000, 4800, thin, { minGapRows: 3 })[1]!.top).toBe(4501);
  });

  it('never makes a tile taller than the limit, even for a gap right after it', () => {
    // the ideal cut is 4500 and the gap starts at the limit 4800: it is beyond the tile's end
    const tiles = findTileCuts(9600, 4800, withGaps([[4801, 40]]));
    expectCover(tiles, 9600, 4800);
  });

  it('covers odd sizes and tiny limits with tiles within the limit', () => {
    for (const [height, maxTile] of [
      [10_001, 1000],
      [30_000, 4800],
      [5, 2],
      [12_345, 777],
    ] as const) {
      const tiles = findTileCuts(height, maxTile, (row) => row % 97 < 10);
      expectCover(tiles, height, maxTile);
    }
  });

  it('refuses nonsense sizes', () => {
    expect(() => findTileCuts(0, 100, noGaps)).toThrow(RangeError);
    expect(() => findTileCuts(100, 0, noGaps)).toThrow(RangeError);
    expect(() => findTileCuts(100, 10, noGaps, { reach: 0.9 })).toThrow(RangeError);
  });
});
