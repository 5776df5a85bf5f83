/**
 * Where a report's spooled files (its PDFs, PNGs, their tiles, a raw mail kept for inspection) live
 * once the report is recorded, behind one small interface both engines use:
 * - {@link DiskSpoolFiles} (SQLite, the default): in the spool directory under DATA_DIR, as always;
 * - {@link DatabaseSpoolFiles} (DATABASE_URL): also in the database, so that any instance can finish
 *   any delivery and DATA_DIR holds nothing that matters.
 *
 * Files are always written to the local spool first (parsing, sniffing and tiling work on files).
 * `keep` copies them into the database inside the transaction that records the report, so a report
 * and its bytes commit together or not at all. `localPath` gives the sender a local file with the right
 * bytes: the local copy when it is complete, else a fresh one streamed from the database. Neither ever
 * holds more than one chunk (1 MiB) of a file in memory.
 *
 * The database form is chunked bytea (`spool_chunks`) plus one row per file (`spool_files`), not large
 * objects: plain rows go through the pool and the SqlDatabase seam like any other statement (so the
 * same code runs on SQLite in tests), are covered by the normal transaction (rolled back with it) and
 * by replication and pg_dump without `lo_*` calls or a vacuumlo job for orphans.
 *
 * A file's key is its path relative to the spool root (`<spool dir>/<file>`, `<spool dir>/tiles/0/1.png`),
 * the same on every instance whatever its DATA_DIR: a path written by another instance is read from
 * its last `spool` segment on (spool roots are `DATA_DIR/spool`, see spool.ts `spoolRoot`).
 */
import { createHash, randomUUID } from 'node:crypto';
import { closeSync, fsyncSync, openSync } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { nowIso, type SqlDatabase } from './sql-database.js';

/** A spooled file as the stores know it (a `ReportFile` fits). */
export interface SpoolFile {
  /** Absolute path of the spooled bytes (on the instance that wrote them). */
  path: string;
  /** Size in bytes and hex SHA-256: when given, `keep` checks the file still has them. */
  size?: number;
  sha256?: string;
  /** A tall PNG's tiles, kept and forgotten with it. */
  tiles?: readonly SpoolFile[];
}

export interface SpoolFiles {
  /**
   * Keeps `files` (and their tiles) for any instance to send. Call it inside the transaction that
   * records the report (`db.transaction`), after the files are complete on disk: rolled back with it.
   * Throws when a file is missing or no longer has the size/SHA-256 it was recorded with.
   */
  keep(files: readonly SpoolFile[]): Promise<void>;
  /**
   * A local path holding exactly `file`'s bytes, for uploading. Call it outside any transaction (it may
   * stream the file from the database to disk). Throws {@link SpoolFileMissingError} when the bytes are
   * nowhere (the janitor removed them).
   */
  localPath(file: SpoolFile & { size: number; sha256: string }): Promise<string>;
  /**
   * Forgets the files of one report's spool directory: its database rows, then the local copies.
   * Call it outside a transaction, before marking the spool removed / deleting the report rows (a crash in
   * between leaves nothing behind that a later round would not remove again).
   */
  forget(spoolDir: string): Promise<void>;
}

/** A file asked for that neither this instance's disk nor the database holds. */
export class SpoolFileMissingError extends Error {
  constructor(readonly key: string) {
    super(`the spooled file ${key} is no longer kept (on disk or in the database)`);
    this.name = 'SpoolFileMissingError';
  }
}

/** SQLite (the default): the files stay in the spool directory; nothing to copy. */
export class DiskSpoolFiles implements SpoolFiles {
  async keep(_files: readonly SpoolFile[]): Promise<void> {
    // the recorded path is the file
  }

  async localPath(file: SpoolFile): Promise<string> {
    return file.path;
  }

  async forget(spoolDir: string): Promise<void> {
    await rm(spoolDir, { recursive: true, force: true });
  }
}

/** Size of a stored chunk: big enough for few rows, small enough to be nothing in memory. */
export const SPOOL_CHUNK_BYTES = 1024 * 1024;

export interface DatabaseSpoolFilesOptions {
  /** This instance's spool root (`spoolRoot(DATA_DIR)`): its own files, and where copies are cached. */
  spoolRoot: string;
  /** Bytes per stored chunk. Default {@link SPOOL_CHUNK_BYTES}. */
  chunkBytes?: number;
}

interface StoredFile {
  size: number | string;
  sha256: string;
  chunks: number;
}

/** DATABASE_URL: the files are kept in `spool_files`/`spool_chunks`, the disk is only a cache. */
export class DatabaseSpoolFiles implements SpoolFiles {
  private readonly root: string;
  private readonly chunkBytes: number;
  /** Fetches under way, so parallel deliveries of one file stream it once. */
  private readonly fetching = new Map<string, Promise<string>>();

  constructor(
    private readonly db: SqlDatabase,
    options: DatabaseSpoolFilesOptions,
  ) {
    this.root = path.resolve(options.spoolRoot);
    this.chunkBytes = options.chunkBytes ?? SPOOL_CHUNK_BYTES;
  }

  async keep(files: readonly SpoolFile[]): Promise<void> {
    // its own transaction when the caller has none (then a savepoint of the caller's): never half a file
    await this.db.transaction(async () => {
      for (const file of flatten(files)) await this.keepOne(file);
    });
  }

  async localPath(file: SpoolFile & { size: number; sha256: string }): Promise<string> {
    const key = this.keyOf(file.path);
    const local = path.join(this.root, ...key.split('/'));
    if (await holds(local, file.size, file.sha256)) return local;
    let fetch = this.fetching.get(key);
    if (!fetch) {
      fetch = this.fetch(key, local, file).finally(() => this.fetching.delete(key));
      this.fetching.set(key, fetch);
    }
    return fetch;
  }

  async forget(spoolDir: string): Promise<void> {
    const dir = this.keyOf(spoolDir);
    if (dir.includes('/')) throw new Error(`not a spool directory: ${spoolDir}`);
    await this.db.transaction(async () => {
      await this.db.run(
        'DELETE FROM spool_chunks WHERE file_key IN (SELECT file_key FROM spool_files WHERE spool_dir = ?)',
        [dir],
      );
      await this.db.run('DELETE FROM spool_files WHERE spool_dir = ?', [dir]);
    });
    await rm(path.join(this.root, dir), { recursive: true, force: true });
  }

  /**
   * Removes local spool directories older than `minAgeMs` whose files the database no longer keeps:
   * copies cached while this instance was leader and forgotten by another's janitor, and the files of
   * a mail whose recording was interrupted. Young directories stay (a mail being parsed right now).
   * Returns how many were removed.
   */
  async removeStaleLocalCopies(minAgeMs = 6 * 3600_000, now = Date.now()): Promise<number> {
    let entries: string[];
    try {
      entries = await readdir(this.root);
    } catch {
      return 0;
    }
    let removed = 0;
    for (const entry of entries) {
      const dir = path.join(this.root, entry);
      const info = await stat(dir).catch(() => null);
      if (!info || now - info.mtimeMs < minAgeMs) continue;
      const kept = await this.db.get('SELECT 1 AS kept FROM spool_files WHERE spool_dir = ? LIMIT 1', [
        entry,
      ]);
      if (kept) continue;
      await rm(dir, { recursive: true, force: true });
      removed++;
    }
    return removed;
  }

  /** The key of a spooled path: relative to this root, or (another instance's) after its last `spool`. */
  keyOf(filePath: string): string {
    const resolved = path.resolve(filePath);
    let segments: string[];
    if (resolved.startsWith(this.root + path.sep)) {
      segments = resolved.slice(this.root.length + 1).split(path.sep);
    } else {
      const all = resolved.split(path.sep);
      const spool = all.lastIndexOf('spool');
      if (spool < 0) throw new Error(`not a spooled path: ${filePath}`);
      segments = all.slice(spool + 1);
    }
    if (segments.length === 0 || segments.some((s) => s === '' || s === '.' || s === '..'))
      throw new Error(`not a spooled path: ${filePath}`);
    return segments.join('/');
  }

  private async keepOne(file: SpoolFile): Promise<void> {
    const key = this.keyOf(file.path);
    const handle = await open(file.path, 'r');
    const hash = createHash('sha256');
    let size = 0;
    let seq = 0;
    try {
      await this.db.run('DELETE FROM spool_chunks WHERE file_key = ?', [key]);
      const buffer = Buffer.allocUnsafe(this.chunkBytes);
      for (;;) {
        const filled = await readFull(handle, buffer);
        if (filled === 0) break;
        const chunk = buffer.subarray(0, filled);
        hash.update(chunk);
        size += filled;
        // awaited before the buffer is reused: both engines have sent the bytes by then
        await this.db.run('INSERT INTO spool_chunks (file_key, seq, data) VALUES (?, ?, ?)', [
          key,
          seq,
          chunk,
        ]);
        seq++;
        if (filled < buffer.length) break;
      }
    } finally {
      await handle.close();
    }
    const sha256 = hash.digest('hex');
    if (
      (file.size !== undefined && file.size !== size) ||
      (file.sha256 !== undefined && file.sha256 !== sha256)
    )
      throw new Error(
        `the spooled file ${key} changed on disk: ${size} bytes, sha256 ${sha256}, recorded ${file.size} bytes, ${file.sha256}`,
      );
    await this.db.run(
      `INSERT INTO spool_files (file_key, spool_dir, size, sha256, chunks, created_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (file_key) DO UPDATE SET spool_dir = excluded.spool_dir, size = excluded.size,
         sha256 = excluded.sha256, chunks = excluded.chunks, created_at = excluded.created_at`,
      [key, key.split('/')[0]!, size, sha256, seq, nowIso()],
    );
  }

  /** Streams a file from the database into `local`: a temp name, checked, fsynced, then renamed. */
  private async fetch(key: string, local: string, file: { size: number; sha256: string }): Promise<string> {
    const stored = await this.db.get<StoredFile>(
      'SELECT size, sha256, chunks FROM spool_files WHERE file_key = ?',
      [key],
    );
    if (!stored) throw new SpoolFileMissingError(key);
    if (Number(stored.size) !== file.size || stored.sha256 !== file.sha256)
      throw new Error(`the spooled file ${key} in the database is not the recorded one`);
    const dir = path.dirname(local);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const temp = path.join(dir, `.${path.basename(local)}.${randomUUID()}.fetching`);
    const handle = await open(temp, 'wx', 0o600);
    const hash = createHash('sha256');
    let size = 0;
    try {
      for (let seq = 0; seq < stored.chunks; seq++) {
        const row = await this.db.get<{ data: Buffer }>(
          'SELECT data FROM spool_chunks WHERE file_key = ? AND seq = ?',
          [key, seq],
        );
        if (!row) throw new SpoolFileMissingError(key);
        hash.update(row.data);
        size += row.data.length;
        await writeFull(handle, row.data);
      }
      if (size !== file.size || hash.digest('hex') !== file.sha256)
        throw new Error(`the spooled file ${key} read from the database does not match its SHA-256`);
      await handle.sync();
      await handle.close();
      await rename(temp, local);
      fsyncDirectory(dir);
      return local;
    } catch (error) {
      await handle.close().catch(() => undefined);
      await rm(temp, { force: true });
      throw error;
    }
  }
}

function flatten(files: readonly SpoolFile[]): SpoolFile[] {
  return files.flatMap((file) => [file, ...flatten(file.tiles ?? [])]);
}

/** Whether `local` holds exactly `size` bytes hashing to `sha256` (read in chunks). */
async function holds(local: string, size: number, sha256: string): Promise<boolean> {
  const info = await stat(local).catch(() => null);
  if (!info?.isFile() || info.size !== size) return false;
  const handle = await open(local, 'r');
  try {
    const hash = createHash('sha256');
    const buffer = Buffer.allocUnsafe(SPOOL_CHUNK_BYTES);
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
    }
    return hash.digest('hex') === sha256;
  } finally {
    await handle.close();
  }
}

/** Reads until `buffer` is full or the file ends; returns the bytes read. */
async function readFull(handle: import('node:fs/promises').FileHandle, buffer: Buffer): Promise<number> {
  let filled = 0;
  while (filled < buffer.length) {
    const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, null);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled;
}

async function writeFull(handle: import('node:fs/promises').FileHandle, data: Buffer): Promise<void> {
  let written = 0;
  while (written < data.length) {
    const { bytesWritten } = await handle.write(data, written, data.length - written);
    written += bytesWritten;
  }
}

function fsyncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * The same tables for PostgreSQL (for `postgres-schema.ts`, engineer "pg": the lead moves this into its
 * migrations, as the version that follows SQLite migration 14).
 */
export const POSTGRES_SPOOL_FILES_DDL = `
CREATE TABLE spool_files (
  file_key TEXT PRIMARY KEY,
  spool_dir TEXT NOT NULL,
  size BIGINT NOT NULL,
  sha256 TEXT NOT NULL,
  chunks INTEGER NOT NULL,
  created_at TEXT NOT NULL
);
CREATE INDEX spool_files_by_dir ON spool_files (spool_dir);
CREATE TABLE spool_chunks (
  file_key TEXT NOT NULL,
  seq INTEGER NOT NULL,
  data BYTEA NOT NULL,
  PRIMARY KEY (file_key, seq)
);
-- the chunks are already compressed files (PNG, PDF): no point in TOAST compressing them again
ALTER TABLE spool_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
`;
