import { createHash, randomBytes } from 'node:crypto';
import {
  createReadStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/store/database.js';
import {
  DatabaseSpoolFiles,
  DiskSpoolFiles,
  type SpoolFile,
  SpoolFileMissingError,
} from '../../src/store/spool-files.js';
import type { SqlDatabase } from '../../src/store/sql-database.js';
import { SqliteDatabase } from '../../src/store/sqlite-database.js';
import { postgresEngine } from './spool-files-postgres.js';

interface Engine {
  name: string;
  /** A fresh database with the spool tables. */
  open(): Promise<SqlDatabase>;
  teardown?(): Promise<void>;
}

const sqliteDirs: string[] = [];
const sqlite: Engine = {
  name: 'sqlite',
  async open() {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'stb-spool-files-db-'));
    sqliteDirs.push(dir);
    return new SqliteDatabase(openDatabase(dir));
  },
  async teardown() {
    for (const dir of sqliteDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  },
};

const engines: Engine[] = [sqlite, ...(postgresEngine ? [postgresEngine] : [])];

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

/** Samples RSS and ArrayBuffer memory while `work` runs; returns the peak growth over the start. */
async function peakGrowth<T>(
  work: () => Promise<T>,
): Promise<{ result: T; rss: number; arrayBuffers: number }> {
  const start = process.memoryUsage();
  let rss = 0;
  let arrayBuffers = 0;
  const sample = () => {
    const now = process.memoryUsage();
    rss = Math.max(rss, now.rss - start.rss);
    arrayBuffers = Math.max(arrayBuffers, now.arrayBuffers - start.arrayBuffers);
  };
  const timer = setInterval(sample, 5);
  try {
    const result = await work();
    sample();
    return { result, rss, arrayBuffers };
  } finally {
    clearInterval(timer);
  }
}

describe.each(engines)('DatabaseSpoolFiles on $name', (engine) => {
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
    db = await engine.open();
    first = new DatabaseSpoolFiles(db, { spoolRoot: firstRoot });
    second = new DatabaseSpoolFiles(db, { spoolRoot: secondRoot });
  });
  afterEach(async () => {
    await db.close();
    rmSync(work, { recursive: true, force: true });
  });
  afterAll(async () => {
    await engine.teardown?.();
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
    // by chunk, a few chunks and the driver's garbage not yet collected
    const bound = 40 * MiB;
    for (const growth of [kept, fetched]) {
      expect(growth.arrayBuffers).toBeLessThan(bound);
      expect(growth.rss).toBeLessThan(bound);
    }
    const whole = await peakGrowth(() => readFile(local));
    expect(whole.result.length).toBe(file.size);
    expect(whole.arrayBuffers).toBeGreaterThan(bound);
    // no temp file left beside it
    expect(existsSync(path.join(secondRoot, 'mail-1'))).toBe(true);
    expect((await import('node:fs')).readdirSync(path.join(secondRoot, 'mail-1'))).toEqual(['big.pdf']);
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
  });

  it('takes only paths inside a spool', async () => {
    expect(first.keyOf(path.join(firstRoot, 'd', 'f.pdf'))).toBe('d/f.pdf');
    expect(first.keyOf('/other/data/spool/d/tiles/0/1.png')).toBe('d/tiles/0/1.png');
    expect(() => first.keyOf('/etc/passwd')).toThrow(/not a spooled path/);
    expect(() => first.keyOf('/x/spool')).toThrow(/not a spooled path/);
    await expect(first.forget(path.join(firstRoot, 'd', 'f.pdf'))).rejects.toThrow(/not a spool directory/);
  });
});

describe('DiskSpoolFiles (SQLite: as before)', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'stb-spool-disk-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

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
