import { createHash, randomBytes } from 'node:crypto';
import {
  createReadStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  DatabaseSpoolFiles,
  DiskSpoolFiles,
  type SpoolFile,
  SpoolFileMissingError,
  spoolFilesFor,
} from '../../src/store/spool-files.js';
import type { SqlDatabase } from '../../src/store/sql-database.js';
import { forEachEngine } from './engines.js';

const MiB = 1024 * 1024;

/** Writes `bytes` of random data to `file` in 1 MiB pieces; returns its size and SHA-256. */
async function writeRandomFile(file: string, bytes: number): Promise<{ size: number; sha256: string }> {
  mkdirSync(path.dirname(file), { recursive: true });
  const handle = await open(file, 'w');
  const hash = createHash('sha256');
  try {
    for (let written = 0; written < bytes; written += MiB) {
      const piece = randomBytes(Math.min(MiB, bytes - written));
      hash.update(piece);
      await handle.write(piece);
    }
  } finally {
    await handle.close();
  }
  return { size: bytes, sha256: hash.digest('hex') };
}

async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function count(db: SqlDatabase, table: 'spool_chunks' | 'spool_files'): Promise<number> {
  const row = await db.get<{ n: number | string }>(`SELECT count(*) AS n FROM ${table}`);
  return Number(row?.n ?? 0);
}

v8.setFlagsFromString('--expose-gc');
/** V8's collector, so that garbage of before is not counted as freed during a measurement. */
const collectGarbage = runInNewContext('gc') as () => void;

/**
 * Samples RSS and ArrayBuffer memory while `work` runs, each sample after a full collection, so that
 * it measures what `work` holds (not when V8 chooses to collect its garbage); returns the peak growth.
 */
async function peakGrowth<T>(
  work: () => Promise<T>,
): Promise<{ result: T; rss: number; arrayBuffers: number }> {
  collectGarbage();
  const start = process.memoryUsage();
  let rss = 0;
  let arrayBuffers = 0;
  const sample = () => {
    collectGarbage();
    const now = process.memoryUsage();
    rss = Math.max(rss, now.rss - start.rss);
    arrayBuffers = Math.max(arrayBuffers, now.arrayBuffers - start.arrayBuffers);
  };
  const timer = setInterval(sample, 25);
  try {
    const result = await work();
    sample();
    return { result, rss, arrayBuffers };
  } finally {
    clearInterval(timer);
  }
}

forEachEngine('DatabaseSpoolFiles', (engine) => {
  let work: string;
  let db: SqlDatabase;
  /** The instance that spooled the files, and another one with its own DATA_DIR on the same database. */
  let first: DatabaseSpoolFiles;
  let second: DatabaseSpoolFiles;
  let firstRoot: string;
  let secondRoot: string;

  beforeEach(async () => {
    work = mkdtempSync(path.join(os.tmpdir(), 'stb-spool-files-'));
    firstRoot = path.join(work, 'a', 'spool');
    secondRoot = path.join(work, 'b', 'spool');
    db = engine.current();
    // until the lead moves the DDL into postgres-schema.ts's migrations
    first = new DatabaseSpoolFiles(db, { spoolRoot: firstRoot });
    second = new DatabaseSpoolFiles(db, { spoolRoot: secondRoot });
  });
  afterEach(() => {
    rmSync(work, { recursive: true, force: true });
  });

  async function spool(
    dir: string,
    name: string,
    bytes: number,
  ): Promise<SpoolFile & { size: number; sha256: string }> {
    const file = path.join(firstRoot, dir, name);
    return { path: file, ...(await writeRandomFile(file, bytes)) };
  }

  it('keeps a 50 MB file and gives it to another instance byte for byte, never holding it in memory', async () => {
    const file = await spool('mail-1', 'big.pdf', 50 * MiB);
    const kept = await peakGrowth(() => db.transaction(() => first.keep([file])));
    expect(await count(db, 'spool_chunks')).toBe(50);

    const fetched = await peakGrowth(() => second.localPath(file));
    const local = fetched.result;
    expect(local).toBe(path.join(secondRoot, 'mail-1', 'big.pdf'));
    expect(statSync(local).size).toBe(file.size);
    expect(await sha256Of(local)).toBe(file.sha256);
    // buffered whole, the file alone would add 50 MB (the control below shows the probe sees it); chunk
    // by chunk, a few chunks
    const bound = 16 * MiB;
    for (const growth of [kept, fetched]) {
      expect(growth.arrayBuffers).toBeLessThan(bound);
      // SQLite's and malloc's own caches come on top in the process; still well under the file
      expect(growth.rss).toBeLessThan(2.5 * bound);
    }
    const whole = await peakGrowth(() => readFile(local));
    expect(whole.result.length).toBe(file.size);
    expect(whole.arrayBuffers).toBeGreaterThan(bound);
    // no temp file left beside it
    expect(existsSync(path.join(secondRoot, 'mail-1'))).toBe(true);
    expect(readdirSync(path.join(secondRoot, 'mail-1'))).toEqual(['big.pdf']);
  }, 120_000);

  it('uses the local copy when it is complete, without the database', async () => {
    const file = await spool('mail-2', 'report.png', 3 * MiB + 17);
    await db.transaction(() => first.keep([file]));
    await db.run('DELETE FROM spool_chunks');
    expect(await first.localPath(file)).toBe(file.path);
  });

  it('fetches again a cached copy that was truncated or corrupted', async () => {
    const file = await spool('mail-3', 'report.pdf', 2 * MiB + 5);
    await db.transaction(() => first.keep([file]));
    const local = await second.localPath(file);
    expect(await sha256Of(local)).toBe(file.sha256);

    truncateSync(local, MiB);
    expect(await second.localPath(file)).toBe(local);
    expect(await sha256Of(local)).toBe(file.sha256);

    // same size, one byte changed
    const handle = await open(local, 'r+');
    await handle.write(Buffer.from([0x42 ^ 0xff]), 0, 1, MiB + 3);
    await handle.close();
    expect(statSync(local).size).toBe(file.size);
    expect(await sha256Of(local)).not.toBe(file.sha256);
    expect(await second.localPath(file)).toBe(local);
    expect(await sha256Of(local)).toBe(file.sha256);

    // the writer's own copy corrupted: it fetches too
    writeFileSync(file.path, 'not the report');
    expect(await first.localPath(file)).toBe(file.path);
    expect(await sha256Of(file.path)).toBe(file.sha256);
  });

  it('keeps nothing when the recording transaction rolls back', async () => {
    const file = await spool('mail-4', 'report.pdf', 3 * MiB);
    await expect(
      db.transaction(async () => {
        await first.keep([file]);
        expect(await count(db, 'spool_chunks')).toBe(3);
        throw new Error('recording failed');
      }),
    ).rejects.toThrow('recording failed');
    expect(await count(db, 'spool_chunks')).toBe(0);
    expect(await count(db, 'spool_files')).toBe(0);
    await expect(second.localPath(file)).rejects.toBeInstanceOf(SpoolFileMissingError);
  });

  it('keeps a staged file inside the transaction without reading it again', async () => {
    const file = await spool('mail-s1', 'report.pdf', 3 * MiB + 1);
    const notStaged = await spool('mail-s1', 'other.pdf', 100);
    await first.stage([file]);
    expect(await count(db, 'spool_chunks')).toBe(4);
    const staged = await db.get<{ kept: number }>('SELECT kept FROM spool_files WHERE file_key = ?', [
      'mail-s1/report.pdf',
    ]);
    expect(Number(staged?.kept)).toBe(0);
    // gone from disk: keep cannot read it, so it must only mark the staged copy kept
    const bytesOf = file.path;
    rmSync(bytesOf);
    await db.transaction(() => first.keep([file, notStaged]));
    const rows = await db.all<{ file_key: string; kept: number }>(
      'SELECT file_key, kept FROM spool_files ORDER BY file_key',
    );
    expect(rows.map((row) => [row.file_key, Number(row.kept)])).toEqual([
      ['mail-s1/other.pdf', 1],
      ['mail-s1/report.pdf', 1],
    ]);
    expect(await sha256Of(await second.localPath(file))).toBe(file.sha256);
    // kept files are past staging: neither staged again nor swept
    await first.stage([notStaged]);
    expect(await first.removeUnkeptStaged(new Date(Date.now() + 60_000).toISOString())).toBe(0);
    expect(await count(db, 'spool_files')).toBe(2);
  });

  it('copies in the transaction a file whose staging was cut short, and sweeps stages no report kept', async () => {
    const cut = await spool('mail-s2', 'cut.pdf', 3 * MiB);
    await first.stage([cut]);
    // an instance died after two of three chunks
    await db.run('DELETE FROM spool_chunks WHERE file_key = ? AND seq = 2', ['mail-s2/cut.pdf']);
    await db.transaction(() => first.keep([cut]));
    expect(await count(db, 'spool_chunks')).toBe(3);
    expect(await sha256Of(await second.localPath(cut))).toBe(cut.sha256);

    const unrecorded = await spool('mail-s3', 'dropped.pdf', 2 * MiB);
    await first.stage([unrecorded]);
    await expect(
      db.transaction(async () => {
        await first.keep([unrecorded]);
        throw new Error('recording failed');
      }),
    ).rejects.toThrow('recording failed');
    expect(await count(db, 'spool_chunks')).toBe(5);
    expect(await first.removeUnkeptStaged(new Date(Date.now() - 60_000).toISOString())).toBe(0);
    expect(await first.removeUnkeptStaged(new Date(Date.now() + 60_000).toISOString())).toBe(1);
    expect(await count(db, 'spool_chunks')).toBe(3);
    expect(await count(db, 'spool_files')).toBe(1);
  });

  it('stages a file without its size and SHA-256 (a raw mail kept for inspection)', async () => {
    const raw = await spool('mail-raw', 'message.eml', 2 * MiB + 3);
    await first.stage([{ path: raw.path }]);
    rmSync(raw.path);
    await db.transaction(() => first.keep([{ path: raw.path }]));
    const row = await db.get<{ size: number | string; sha256: string; kept: number }>(
      'SELECT size, sha256, kept FROM spool_files',
    );
    expect([Number(row?.size), row?.sha256, Number(row?.kept)]).toEqual([raw.size, raw.sha256, 1]);
    expect(await sha256Of(await second.localPath(raw))).toBe(raw.sha256);
  });

  it('refuses to stage a file that changed since it was spooled', async () => {
    const file = await spool('mail-s4', 'report.pdf', 1000);
    writeFileSync(file.path, 'changed');
    await expect(first.stage([file])).rejects.toThrow(/changed on disk/);
    // and keep does not take the broken stage
    await expect(db.transaction(() => first.keep([file]))).rejects.toThrow(/changed on disk/);
  });

  it('refuses to keep a file that changed since it was recorded, keeping none of it', async () => {
    const file = await spool('mail-5', 'report.pdf', MiB + 1);
    const other = await spool('mail-5', 'other.pdf', 10);
    writeFileSync(file.path, 'changed');
    await expect(db.transaction(() => first.keep([other, file]))).rejects.toThrow(/changed on disk/);
    expect(await count(db, 'spool_chunks')).toBe(0);
    expect(await count(db, 'spool_files')).toBe(0);
  });

  it('keeps tiles with their PNG, gives them by the writer path, and forgets a spool directory', async () => {
    const tile1 = await spool('mail-6', 'tiles/0/1.png', 1000);
    const tile2 = await spool('mail-6', 'tiles/0/2.png', 2000);
    const png = { ...(await spool('mail-6', 'tall.png', 5000)), tiles: [tile1, tile2] };
    const neighbour = await spool('mail-7', 'report.pdf', 100);
    await db.transaction(() => first.keep([png, neighbour]));
    expect(await count(db, 'spool_files')).toBe(4);

    const tilePath = await second.localPath(tile2);
    expect(tilePath).toBe(path.join(secondRoot, 'mail-6', 'tiles', '0', '2.png'));
    expect(await sha256Of(tilePath)).toBe(tile2.sha256);

    await second.forget(path.join(firstRoot, 'mail-6'));
    expect(await count(db, 'spool_files')).toBe(1);
    expect(await count(db, 'spool_chunks')).toBe(1);
    expect(existsSync(path.join(secondRoot, 'mail-6'))).toBe(false);
    await expect(second.localPath(png)).rejects.toBeInstanceOf(SpoolFileMissingError);
    // the first instance still has its own files on disk; the database forgot them
    rmSync(png.path);
    await expect(first.localPath(png)).rejects.toBeInstanceOf(SpoolFileMissingError);
    expect(await sha256Of(await second.localPath(neighbour))).toBe(neighbour.sha256);

    // the rows alone, inside the transaction that deletes the report: rolled back with it
    await expect(
      db.transaction(async () => {
        await second.forgetRows(path.join(firstRoot, 'mail-7'));
        throw new Error('report not deleted');
      }),
    ).rejects.toThrow('report not deleted');
    expect(await count(db, 'spool_files')).toBe(1);
    await db.transaction(() => second.forgetRows(path.join(firstRoot, 'mail-7')));
    expect(await count(db, 'spool_files')).toBe(0);
    expect(await count(db, 'spool_chunks')).toBe(0);
    expect(existsSync(path.join(secondRoot, 'mail-7', 'report.pdf'))).toBe(true);
  });

  it("gives local copies of a report's files and tiles, leaving the recorded path of one kept nowhere", async () => {
    const tile = await spool('mail-9', 'tiles/0/1.png', 300);
    const png = { ...(await spool('mail-9', 'tall.png', 5000)), tiles: [tile] };
    const lost = await spool('mail-9', 'lost.pdf', 10);
    await db.transaction(() => first.keep([png]));
    const copies = await second.localCopies([png, lost]);
    expect(copies.map((copy) => copy.path)).toEqual([path.join(secondRoot, 'mail-9', 'tall.png'), lost.path]);
    expect(copies[0]!.tiles!.map((copy) => copy.path)).toEqual([
      path.join(secondRoot, 'mail-9', 'tiles', '0', '1.png'),
    ]);
    expect(await sha256Of(copies[0]!.tiles![0]!.path)).toBe(tile.sha256);
    expect(existsSync(path.join(secondRoot, 'mail-9', 'lost.pdf'))).toBe(false);
    // the second look at a checked copy does not read the database (nor rehash): rows gone, still served
    await db.run('DELETE FROM spool_chunks');
    expect((await second.localCopies([png]))[0]!.path).toBe(path.join(secondRoot, 'mail-9', 'tall.png'));
  });

  it('streams a file once for parallel deliveries', async () => {
    const file = await spool('mail-8', 'report.pdf', 4 * MiB);
    await db.transaction(() => first.keep([file]));
    const paths = await Promise.all([1, 2, 3, 4].map(() => second.localPath(file)));
    expect(new Set(paths).size).toBe(1);
    expect(await sha256Of(paths[0]!)).toBe(file.sha256);
  });

  it('removes stale local copies the database no longer keeps, not young or kept ones', async () => {
    const kept = await spool('kept', 'a.pdf', 10);
    await db.transaction(() => first.keep([kept]));
    await spool('forgotten', 'b.pdf', 10);
    const now = Date.now() + 7 * 3600_000;
    expect(await first.removeStaleLocalCopies(6 * 3600_000, now)).toBe(1);
    expect(existsSync(path.join(firstRoot, 'kept'))).toBe(true);
    expect(existsSync(path.join(firstRoot, 'forgotten'))).toBe(false);
    await spool('young', 'c.pdf', 10);
    expect(await first.removeStaleLocalCopies()).toBe(0);
    // the janitor's round: a stage two days old, and the young directory once old
    const staged = await spool('staged', 'd.pdf', 10);
    await first.stage([staged]);
    expect(await first.sweep(Date.now() + 48 * 3600_000)).toEqual({ unkeptStaged: 1, staleLocalCopies: 2 });
    expect(await count(db, 'spool_files')).toBe(1);
    expect(await new DiskSpoolFiles().sweep()).toEqual({ unkeptStaged: 0, staleLocalCopies: 0 });
  });

  it('takes only paths inside a spool', async () => {
    expect(first.keyOf(path.join(firstRoot, 'd', 'f.pdf'))).toBe('d/f.pdf');
    expect(first.keyOf('/other/data/spool/d/tiles/0/1.png')).toBe('d/tiles/0/1.png');
    expect(() => first.keyOf('/etc/passwd')).toThrow(/not a spooled path/);
    expect(() => first.keyOf('/x/spool')).toThrow(/not a spooled path/);
    expect(() => new DatabaseSpoolFiles(db, { spoolRoot: path.join(work, 'cache') })).toThrow(/named spool/);
    await expect(first.forget(path.join(firstRoot, 'd', 'f.pdf'))).rejects.toThrow(/not a spool directory/);
  });
});

describe('DiskSpoolFiles (SQLite: as before)', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'stb-spool-disk-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is what SQLite gets; PostgreSQL gets the database', () => {
    const sqliteLike = { engine: 'sqlite' } as SqlDatabase;
    const postgresLike = { engine: 'postgres' } as SqlDatabase;
    expect(spoolFilesFor(sqliteLike, dir)).toBeInstanceOf(DiskSpoolFiles);
    expect(spoolFilesFor(postgresLike, path.join(dir, 'spool'))).toBeInstanceOf(DatabaseSpoolFiles);
  });

  it('gives the recorded path and removes the directory on forget', async () => {
    const spoolDir = path.join(dir, 'spool', 'mail');
    const file = path.join(spoolDir, 'a.pdf');
    const written = await writeRandomFile(file, 100);
    const files = new DiskSpoolFiles();
    await files.keep([{ path: file, ...written }]);
    expect(await files.localPath({ path: file, ...written })).toBe(file);
    await files.forget(spoolDir);
    expect(existsSync(spoolDir)).toBe(false);
  });
});
