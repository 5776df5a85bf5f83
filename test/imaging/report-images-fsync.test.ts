/**
 * Tiles are durable before the report that names them is recorded: each tile's bytes are fsynced before
 * its rename, and the directories holding the new names (the tile directory, tiles/, the spool directory)
 * are fsynced after. Observed through node:fs itself, wrapped to log which path each fsync flushed.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import type { ReportFile } from '../../src/core/report.js';

/** Every fsync, in order: the path its descriptor was opened with and that file's size then. */
const fsyncs = vi.hoisted(() => [] as { target: string; size: number }[]);

vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const opened = new Map<number, string>();
  const openSync = ((target: string, ...rest: unknown[]) => {
    const fd = (fs.openSync as (...args: unknown[]) => number)(target, ...rest);
    opened.set(fd, String(target));
    return fd;
  }) as typeof fs.openSync;
  const fsyncSync = ((fd: number) => {
    const target = opened.get(fd) ?? `fd ${fd}`;
    fsyncs.push({ target, size: fs.fstatSync(fd).size });
    fs.fsyncSync(fd);
  }) as typeof fs.fsyncSync;
  return { ...fs, default: { ...fs, openSync, fsyncSync }, openSync, fsyncSync };
});

const { prepareReportImages } = await import('../../src/imaging/report-images.js');
const { dashboardPng } = await import('../support/dashboard-images.js');

const dir = mkdtempSync(path.join(tmpdir(), 'report-images-fsync-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('tile durability', () => {
  it('fsyncs every tile before its rename and the directories naming them before returning', async () => {
    const { png } = await dashboardPng({ width: 1600, height: 9000, seed: 5 });
    const spoolDir = path.join(dir, 'mail-1');
    mkdirSync(spoolDir);
    const filePath = path.join(spoolDir, 'Sales.png');
    writeFileSync(filePath, png);
    const file: ReportFile = {
      filename: 'Sales.png',
      contentType: 'image/png',
      size: png.length,
      sha256: createHash('sha256').update(png).digest('hex'),
      path: filePath,
    };
    fsyncs.length = 0;
    const { files } = await prepareReportImages([file], spoolDir, {
      limits: { photoMaxRatio: 3, photoMaxDimensionSum: 10_000 },
      makeTiles: true,
    });
    const tiles = files[0]!.tiles!;
    expect(tiles.length).toBe(2);
    const synced = fsyncs.map((entry) => entry.target);
    for (const tile of tiles) {
      // the complete bytes, under the temporary name (the rename comes after)
      const part = fsyncs.find((entry) => entry.target === `${tile.path}.part`);
      expect(part?.size).toBe(statSync(tile.path).size);
      expect(part!.size).toBeGreaterThan(0);
    }
    const tileDir = path.dirname(tiles[0]!.path);
    const lastTile = synced.indexOf(`${tiles[1]!.path}.part`);
    expect(synced.indexOf(tileDir)).toBeGreaterThan(lastTile);
    expect(synced).toContain(path.join(spoolDir, 'tiles'));
    expect(synced).toContain(spoolDir);
  });
});
