/**
 * The rewrite of a fixed plan around unreadable tiles, on plain values and real files: one message for
 * one message (a delivery's progress counts messages), the original in place of the first tile message
 * unless the plan sends it anyway, a file_id Telegram issued standing in for a lost file.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { PlannedMessage } from '../../src/core/message-plan.js';
import type { ReportFile } from '../../src/core/report.js';
import { filesWithBrokenTiles, withoutBrokenTiles } from '../../src/telegram/tile-fallback.js';

const dir = mkdtempSync(path.join(tmpdir(), 'tile-fallback-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function spooled(name: string, bytes: number): ReportFile {
  const file = path.join(dir, name);
  writeFileSync(file, Buffer.alloc(bytes, 1));
  return { filename: name, contentType: 'image/png', size: bytes, sha256: `sha-${name}`, path: file };
}

const tiles = (count: number, from = 0) =>
  Array.from({ length: count }, (_, index) => ({ fileIndex: 0, tile: from + index, as: 'photo' as const }));

// 12 tiles: an album of 10, an album of 2, then (tiles+document) the original
const tilesThenOriginal: PlannedMessage[] = [
  { kind: 'album', items: tiles(10), withCaption: true },
  { kind: 'album', items: tiles(2, 10), withCaption: false },
  { kind: 'single', item: { fileIndex: 0, as: 'document' }, withCaption: true },
];
const tilesOnly = tilesThenOriginal.slice(0, 2);

describe('unreadable tiles', () => {
  it('finds an image with a tile gone or truncated, unless Telegram has its file_id', () => {
    const intact = Array.from({ length: 12 }, (_, index) => spooled(`t${index}.png`, 100));
    const original = { ...spooled('Sales.png', 500), tiles: intact };
    expect(filesWithBrokenTiles([original], tilesThenOriginal[1]!, () => false)).toEqual(new Set());
    // a tile of the first album truncated: the whole image counts, also for the second album
    writeFileSync(intact[3]!.path, Buffer.alloc(10));
    expect(filesWithBrokenTiles([original], tilesThenOriginal[1]!, () => false)).toEqual(new Set([0]));
    expect(filesWithBrokenTiles([original], tilesThenOriginal[1]!, (sha) => sha === 'sha-t3.png')).toEqual(
      new Set(),
    );
    rmSync(intact[5]!.path);
    expect(filesWithBrokenTiles([original], tilesThenOriginal[0]!, () => false)).toEqual(new Set([0]));
    // the original's own message has no tiles to judge
    expect(filesWithBrokenTiles([original], tilesThenOriginal[2]!, () => false)).toEqual(new Set());
  });

  it('skips the tile messages when the original follows anyway', () => {
    const broken = new Set([0]);
    expect(withoutBrokenTiles(tilesThenOriginal, 0, broken)).toBeNull();
    expect(withoutBrokenTiles(tilesThenOriginal, 1, broken)).toBeNull();
    expect(withoutBrokenTiles(tilesThenOriginal, 2, broken)).toEqual(tilesThenOriginal[2]);
  });

  it('sends the original, with the caption, in place of the first tile message in tiles mode', () => {
    const broken = new Set([0]);
    expect(withoutBrokenTiles(tilesOnly, 0, broken)).toEqual({
      kind: 'single',
      item: { fileIndex: 0, as: 'document' },
      withCaption: true,
    });
    expect(withoutBrokenTiles(tilesOnly, 1, broken)).toBeNull();
    // nothing broken: the message as planned
    expect(withoutBrokenTiles(tilesOnly, 1, new Set())).toBe(tilesOnly[1]);
  });
});
