/**
 * The file spool: each mail's PDF/PNG files live in their own directory under DATA_DIR/spool until
 * every delivery of the report is final (and the retention time has passed).
 */
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  rmSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { DiskSpoolFiles, type SpoolFile, type SpoolFiles } from './spool-files.js';

export function spoolRoot(dataDir: string): string {
  return path.resolve(dataDir, 'spool');
}

/**
 * Removes spool directories no report refers to: files of a mail whose recording was interrupted by a
 * crash. Call at start-up, before any listener runs. Returns how many were removed.
 */
export function removeOrphanSpoolDirs(root: string, referenced: ReadonlySet<string>): number {
  let removed = 0;
  let entries: string[];
  try {
    entries = readdirSync(root);
  } catch {
    return 0;
  }
  for (const entry of entries) {
    const dir = path.join(root, entry);
    if (referenced.has(dir)) continue;
    rmSync(dir, { recursive: true, force: true });
    removed++;
  }
  return removed;
}

/** Removes the spooled files of reports that are done with them. Returns how many reports were cleaned. */
export async function removeFinishedSpools(
  store: {
    spoolDirsDone(before: string): Promise<Array<{ id: number; spoolDir: string }>>;
    markSpoolRemoved(id: number): Promise<void>;
  },
  retentionMs: number,
  now = Date.now(),
  spoolFiles: SpoolFiles = new DiskSpoolFiles(),
): Promise<number> {
  const done = await store.spoolDirsDone(new Date(now - retentionMs).toISOString());
  for (const { id, spoolDir } of done) {
    // the files first (database rows and local copies): a crash in between only forgets them again
    await spoolFiles.forget(spoolDir);
    await store.markSpoolRemoved(id);
  }
  return done.length;
}

/** File name of a mail's raw bytes inside its spool directory (kept for unreadable mail). */
export const RAW_MAIL_FILE = 'message.eml';

/**
 * Keeps the raw bytes of a mail in `dir` (created) as message.eml, for someone to inspect why it
 * could not be read. At most `maxBytes` are kept; the rest is cut. On any error (ENOSPC …) the
 * directory is removed and the error thrown.
 */
export async function keepRawMail(
  dir: string,
  source: Readable,
  maxBytes: number,
): Promise<{ path: string; bytes: number; truncated: boolean }> {
  const file = path.join(dir, RAW_MAIL_FILE);
  let fd: number | null = null;
  let bytes = 0;
  let truncated = false;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    fd = openSync(file, 'wx', 0o600);
    for await (const chunk of source as AsyncIterable<Buffer>) {
      const room = maxBytes - bytes;
      if (chunk.length > room) {
        truncated = true;
        if (room > 0) writeSync(fd, chunk, 0, room);
        bytes += Math.max(0, room);
        source.destroy();
        break;
      }
      writeSync(fd, chunk);
      bytes += chunk.length;
    }
    fsyncSync(fd);
    closeSync(fd);
    fd = null;
    return { path: file, bytes, truncated };
  } catch (error) {
    if (fd !== null) closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Forgets reports past the retention time (REPORT_RETENTION_DAYS): their rows, their deliveries and
 * their spooled files. A report with a delivery still pending, or one that ended within the retention
 * time (a `resend`), stays. Works in batches of `batchSize`, at most `maxBatches` per call, so a long
 * history is cleared over several janitor rounds without holding the bot up. Returns how many reports
 * were forgotten.
 */
export async function forgetOldReports(
  store: {
    reportsToForget(before: string, limit: number): Promise<Array<{ id: number; spoolDir: string | null }>>;
    forgetReports(ids: number[], alongside?: (reportId: number) => Promise<void>): Promise<number[]>;
    forgetUnusedFileIds(before: string): Promise<number>;
  },
  retentionMs: number,
  now = Date.now(),
  batchSize = 500,
  maxBatches = 20,
  spoolFiles: SpoolFiles = new DiskSpoolFiles(),
): Promise<number> {
  const before = new Date(now - retentionMs).toISOString();
  let forgotten = 0;
  for (let round = 0; round < maxBatches; round++) {
    const batch = await store.reportsToForget(before, batchSize);
    if (batch.length === 0) break;
    const spoolDirOf = new Map(batch.map((report) => [report.id, report.spoolDir]));
    // the files' database rows go in the transaction that deletes the report's rows
    const deleted = new Set(
      await store.forgetReports(
        batch.map((report) => report.id),
        async (id) => {
          const spoolDir = spoolDirOf.get(id);
          if (spoolDir) await spoolFiles.forgetRows(spoolDir);
        },
      ),
    );
    // the rows first: a crash in between leaves directories the start-up sweep removes
    for (const report of batch) {
      if (deleted.has(report.id) && report.spoolDir) await spoolFiles.forget(report.spoolDir);
    }
    forgotten += deleted.size;
    if (batch.length < batchSize || deleted.size === 0) break;
  }
  await store.forgetUnusedFileIds(before);
  return forgotten;
}

/**
 * Whether every one of `files` can still be had, on this instance or (DATABASE_URL) from the database:
 * what /last and `resend` check before queueing a report again. May fetch the files (outside any
 * transaction), as the dispatcher would before sending them.
 */
export async function spooledFilesKept(
  spoolFiles: SpoolFiles,
  files: ReadonlyArray<SpoolFile & { size: number; sha256: string }>,
): Promise<boolean> {
  if (files.length === 0) return true;
  // a file kept nowhere keeps its recorded path, which does not exist here
  const local = await spoolFiles.localCopies(files.map(({ tiles: _tiles, ...file }) => file));
  return local.every((file) => existsSync(file.path));
}
