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
   * Optional, before the recording transaction: copies `files` (and tiles) into the database outside
   * any transaction, so that `keep` inside it only marks them kept
   * and the transaction (which holds the single writer lock) stays short. Staged files no report kept
   * are swept later ({@link DatabaseSpoolFiles.removeUnkeptStaged}). Throws when a file is missing or
   * no longer has its recorded size/SHA-256.
   */
  stage(files: readonly SpoolFile[]): Promise<void>;
  /**
   * Keeps `files` (and their tiles) for any instance to send. Call it inside the transaction that
   * records the report (`db.transaction`), after the files are complete on disk: rolled back with it.
   * A file `stage` copied completely is only marked kept; any other is copied here, chunk by chunk.
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
   * `files` (and their tiles) with each path replaced by {@link localPath}'s, for code that reads
   * `file.path` (the sender, the tile fallback). A file whose bytes are nowhere keeps its recorded path
   * (which does not exist here), so it is reported as gone exactly as a cleaned-up spool is today.
   */
  localCopies<F extends SpoolFile & { size: number; sha256: string }>(files: readonly F[]): Promise<F[]>;
  /**
   * Forgets the files of one report's spool directory: its database rows, then the local copies.
   * Call it outside a transaction, before marking the spool removed / deleting the report rows (a crash in
   * between leaves nothing behind that a later round would not remove again).
   */
  forget(spoolDir: string): Promise<void>;
  /**
   * The database half of {@link forget}, for inside the transaction that deletes the report's rows
   * (then remove the directory with `forget` after it commits). Nothing on disk.
   */
  forgetRows(spoolDir: string): Promise<void>;
  /**
   * The janitor's round (outside a transaction): removes staged files no report kept (a day old) and
   * local copies the database no longer keeps (six hours old). Nothing to do on disk.
   */
  sweep(now?: number): Promise<{ unkeptStaged: number; staleLocalCopies: number }>;
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
  async stage(_files: readonly SpoolFile[]): Promise<void> {
    // the files are on disk already
  }

  async keep(_files: readonly SpoolFile[]): Promise<void> {
    // the recorded path is the file
  }

  async localPath(file: SpoolFile): Promise<string> {
    return file.path;
  }

  async localCopies<F extends SpoolFile>(files: readonly F[]): Promise<F[]> {
    return [...files];
  }

  async forget(spoolDir: string): Promise<void> {
    await rm(spoolDir, { recursive: true, force: true });
  }

  async forgetRows(_spoolDir: string): Promise<void> {
    // no rows: the files are the directory
  }

  async sweep(): Promise<{ unkeptStaged: number; staleLocalCopies: number }> {
    // spool directories no report refers to are removed at start-up (spool.ts removeOrphanSpoolDirs)
    return { unkeptStaged: 0, staleLocalCopies: 0 };
  }
}

/**
 * The spool files of an engine: in the database with PostgreSQL (DATABASE_URL), on disk with SQLite.
 * `spoolRoot`: this instance's `spoolRoot(DATA_DIR)`.
 */
export function spoolFilesFor(db: SqlDatabase, spoolRoot: string): SpoolFiles {
  return db.engine === 'postgres' ? new DatabaseSpoolFiles(db, { spoolRoot }) : new DiskSpoolFiles();
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
  /**
   * Local files whose bytes were checked, with what identified them then: a fan-out to many chats
   * hashes a file once, not once per delivery. Any change (size, mtime, inode) means checking again.
   */
  private readonly checked = new Map<
    string,
    { sha256: string; size: number; mtimeMs: number; ino: number }
  >();

  constructor(
    private readonly db: SqlDatabase,
    options: DatabaseSpoolFilesOptions,
  ) {
    this.root = path.resolve(options.spoolRoot);
    // other instances find a file's key after the last `spool` of its path (keyOf)
    if (path.basename(this.root) !== 'spool') throw new Error(`a spool root is named spool: ${this.root}`);
    this.chunkBytes = options.chunkBytes ?? SPOOL_CHUNK_BYTES;
  }

  async stage(files: readonly SpoolFile[]): Promise<void> {
    for (const file of flatten(files)) {
      const key = this.keyOf(file.path);
      const known = await this.db.get<{ kept: number }>('SELECT kept FROM spool_files WHERE file_key = ?', [
        key,
      ]);
      if (known?.kept === 1) continue;
      // the row first (kept = 0, dated), so chunks of a stage that never gets kept are found and swept;
      // its chunk count -1 until every chunk is written and the bytes checked, so keep never takes half
      // (a file without its size and SHA-256, a raw mail, has them once read)
      await this.upsertFile(key, file.size ?? 0, file.sha256 ?? '', -1, 0);
      // one statement per chunk, each committed alone: the writer lock is held a chunk at a time
      const copied = await this.copyChunks(key, file);
      await this.db.run(
        'UPDATE spool_files SET size = ?, sha256 = ?, chunks = ? WHERE file_key = ? AND kept = 0',
        [copied.size, copied.sha256, copied.chunks, key],
      );
    }
  }

  async keep(files: readonly SpoolFile[]): Promise<void> {
    // its own transaction when the caller has none (then a savepoint of the caller's): never half a file
    await this.db.transaction(async () => {
      for (const file of flatten(files)) {
        if (!(await this.markStagedKept(file))) await this.keepOne(file);
      }
    });
  }

  async sweep(now = Date.now()): Promise<{ unkeptStaged: number; staleLocalCopies: number }> {
    const unkeptStaged = await this.removeUnkeptStaged(new Date(now - 24 * 3600_000).toISOString());
    const staleLocalCopies = await this.removeStaleLocalCopies(6 * 3600_000, now);
    return { unkeptStaged, staleLocalCopies };
  }

  /**
   * Removes the files staged before `before` (ISO time) that no report kept: a recording that failed or
   * found a duplicate, or an instance that died in between. Returns how many files were removed.
   */
  async removeUnkeptStaged(before: string): Promise<number> {
    return this.db.transaction(async () => {
      await this.db.run(
        'DELETE FROM spool_chunks WHERE file_key IN (SELECT file_key FROM spool_files WHERE kept = 0 AND created_at < ?)',
        [before],
      );
      return (await this.db.run('DELETE FROM spool_files WHERE kept = 0 AND created_at < ?', [before]))
        .changes;
    });
  }

  async localPath(file: SpoolFile & { size: number; sha256: string }): Promise<string> {
    const key = this.keyOf(file.path);
    const local = path.join(this.root, ...key.split('/'));
    if (await this.holds(local, file.size, file.sha256)) return local;
    let fetch = this.fetching.get(key);
    if (!fetch) {
      fetch = this.fetch(key, local, file).finally(() => this.fetching.delete(key));
      this.fetching.set(key, fetch);
    }
    return fetch;
  }

  async localCopies<F extends SpoolFile & { size: number; sha256: string }>(
    files: readonly F[],
  ): Promise<F[]> {
    const copies: F[] = [];
    for (const file of files) {
      const tiles = file.tiles
        ? await this.localCopies(file.tiles as ReadonlyArray<SpoolFile & { size: number; sha256: string }>)
        : undefined;
      let local = file.path;
      try {
        local = await this.localPath(file);
      } catch (error) {
        if (!(error instanceof SpoolFileMissingError)) throw error;
      }
      copies.push({ ...file, path: local, ...(tiles ? { tiles } : {}) });
    }
    return copies;
  }

  async forget(spoolDir: string): Promise<void> {
    await this.forgetRows(spoolDir);
    await rm(path.join(this.root, this.dirKeyOf(spoolDir)), { recursive: true, force: true });
  }

  async forgetRows(spoolDir: string): Promise<void> {
    const dir = this.dirKeyOf(spoolDir);
    await this.db.transaction(async () => {
      await this.db.run(
        'DELETE FROM spool_chunks WHERE file_key IN (SELECT file_key FROM spool_files WHERE spool_dir = ?)',
        [dir],
      );
      await this.db.run('DELETE FROM spool_files WHERE spool_dir = ?', [dir]);
    });
  }

  private dirKeyOf(spoolDir: string): string {
    const dir = this.keyOf(spoolDir);
    if (dir.includes('/')) throw new Error(`not a spool directory: ${spoolDir}`);
    return dir;
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

  /** Whether `local` holds exactly `size` bytes hashing to `sha256`. */
  private async holds(local: string, size: number, sha256: string): Promise<boolean> {
    const info = await stat(local).catch(() => null);
    if (!info?.isFile() || info.size !== size) return false;
    const seen = this.checked.get(local);
    if (
      seen &&
      seen.sha256 === sha256 &&
      seen.size === info.size &&
      seen.mtimeMs === info.mtimeMs &&
      seen.ino === info.ino
    )
      return true;
    if ((await sha256OfFile(local)) !== sha256) return false;
    if (this.checked.size >= 10_000) this.checked.clear();
    this.checked.set(local, { sha256, size: info.size, mtimeMs: info.mtimeMs, ino: info.ino });
    return true;
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

  /** Marks a completely staged file kept (inside the recording transaction); false if it is not staged. */
  private async markStagedKept(file: SpoolFile): Promise<boolean> {
    const key = this.keyOf(file.path);
    // complete: every chunk written and the bytes checked (chunks is -1 until then)
    const complete = 'chunks = (SELECT count(*) FROM spool_chunks WHERE file_key = ?)';
    const marked =
      file.size === undefined || file.sha256 === undefined
        ? await this.db.run(`UPDATE spool_files SET kept = 1 WHERE file_key = ? AND ${complete}`, [key, key])
        : await this.db.run(
            `UPDATE spool_files SET kept = 1 WHERE file_key = ? AND size = ? AND sha256 = ? AND ${complete}`,
            [key, file.size, file.sha256, key],
          );
    return marked.changes === 1;
  }

  /** Copies a file into the database and keeps it (inside the recording transaction). */
  private async keepOne(file: SpoolFile): Promise<void> {
    const key = this.keyOf(file.path);
    const { size, sha256, chunks } = await this.copyChunks(key, file);
    await this.upsertFile(key, size, sha256, chunks, 1);
  }

  /** Replaces the chunks of `key` with the file's bytes, read a chunk at a time; checks size and SHA-256. */
  private async copyChunks(
    key: string,
    file: SpoolFile,
  ): Promise<{ size: number; sha256: string; chunks: number }> {
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
    return { size, sha256, chunks: seq };
  }

  private async upsertFile(
    key: string,
    size: number,
    sha256: string,
    chunks: number,
    kept: 0 | 1,
  ): Promise<void> {
    await this.db.run(
      `INSERT INTO spool_files (file_key, spool_dir, size, sha256, chunks, kept, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (file_key) DO UPDATE SET spool_dir = excluded.spool_dir, size = excluded.size,
         sha256 = excluded.sha256, chunks = excluded.chunks, kept = excluded.kept, created_at = excluded.created_at`,
      [key, key.split('/')[0]!, size, sha256, chunks, kept, nowIso()],
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

/** The hex SHA-256 of a file, read a chunk at a time. */
async function sha256OfFile(local: string): Promise<string> {
  const handle = await open(local, 'r');
  try {
    const hash = createHash('sha256');
    const buffer = Buffer.allocUnsafe(SPOOL_CHUNK_BYTES);
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
    }
    return hash.digest('hex');
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
