/**
 * One running bot per DATA_DIR. Two bots on one directory would both send every pending delivery,
 * and the second one's start-up sweep would delete spool files the first is writing.
 *
 * The lock is an exclusive SQLite transaction on a small database file of its own (`bot.lock`), held
 * open for the life of the process. SQLite takes it with an operating-system file lock, which the
 * kernel drops when the process ends in any way (kill -9 included): no stale lock to clean up, no pid
 * that a new process could reuse. Next to it, `bot.lock.json` records who holds it (pid, host, since),
 * only to name the holder when a second bot is refused. The bot's own database (`bot.sqlite`) is not
 * locked, so the CLI commands that edit the directory keep working while the bot runs.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';

/** The lock database inside DATA_DIR. */
export const LOCK_FILE = 'bot.lock';
/** Who holds the lock, for the message to a second bot. */
export const HOLDER_FILE = 'bot.lock.json';

/** The process holding a DATA_DIR. */
export interface LockHolder {
  pid: number;
  host: string;
  /** When it took the lock (ISO time). */
  since: string;
}

/** DATA_DIR is held by another running bot. */
export class InstanceLockedError extends Error {
  constructor(
    readonly dataDir: string,
    /** Who holds it, when its record could be read. */
    readonly holder: LockHolder | null,
  ) {
    const who = holder
      ? `process ${holder.pid} on host ${holder.host}, running since ${holder.since}`
      : `another process (its record ${HOLDER_FILE} could not be read)`;
    super(
      `DATA_DIR ${path.resolve(dataDir)} is in use by another running bot: ${who}. ` +
        'Only one bot may run on a DATA_DIR: stop that one first, or give this one its own DATA_DIR.',
    );
    this.name = 'InstanceLockedError';
  }
}

export interface InstanceLockOptions {
  /** How long to wait for a holder that is about to let go, ms (default 1000). */
  waitMs?: number;
  /** How often to check that the lock file is still the one held, ms (default 30 s; 0: never). */
  checkIntervalMs?: number;
  /** Told when the lock file was removed or replaced under the running bot, and what was done. */
  onReplaced?: (outcome: 'relocked' | 'held-by-another') => void;
  now?: () => Date;
}

export class InstanceLock {
  private db: BetterSqlite3.Database;
  private inode: number;
  private readonly timer: NodeJS.Timeout | null = null;
  private released = false;

  private constructor(
    private readonly dataDir: string,
    private readonly holder: LockHolder,
    private readonly options: InstanceLockOptions,
  ) {
    const taken = lockDatabase(dataDir, options.waitMs ?? 1000);
    if (!taken) throw new InstanceLockedError(dataDir, readHolder(dataDir));
    this.db = taken.db;
    this.inode = taken.inode;
    writeHolder(dataDir, holder);
    const interval = options.checkIntervalMs ?? 30_000;
    if (interval > 0) {
      this.timer = setInterval(() => this.check(), interval);
      this.timer.unref();
    }
  }

  /** Takes the lock of `dataDir` (creating the directory when needed), or throws {@link InstanceLockedError}. */
  static acquire(dataDir: string, options: InstanceLockOptions = {}): InstanceLock {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const since = (options.now?.() ?? new Date()).toISOString();
    return new InstanceLock(dataDir, { pid: process.pid, host: os.hostname(), since }, options);
  }

  /** Who holds `dataDir` according to its record (null when there is none); says nothing of whether it runs. */
  static recordedHolder(dataDir: string): LockHolder | null {
    return readHolder(dataDir);
  }

  /**
   * A lock file deleted under a running bot (a clean-up script, a restored backup) would let a second
   * bot take a new one: put it back while this process still runs alone.
   */
  check(): void {
    if (this.released) return;
    const file = path.join(this.dataDir, LOCK_FILE);
    let inode: number | null = null;
    try {
      inode = statSync(file).ino;
    } catch {
      inode = null;
    }
    if (inode === this.inode) {
      if (readHolder(this.dataDir)?.pid !== this.holder.pid) writeHolder(this.dataDir, this.holder);
      return;
    }
    const taken = lockDatabase(this.dataDir, 0);
    if (!taken) {
      this.options.onReplaced?.('held-by-another');
      return;
    }
    this.db.close();
    this.db = taken.db;
    this.inode = taken.inode;
    writeHolder(this.dataDir, this.holder);
    this.options.onReplaced?.('relocked');
  }

  /** Lets go (on a clean stop); the process ending does the same. */
  release(): void {
    if (this.released) return;
    this.released = true;
    if (this.timer) clearInterval(this.timer);
    if (readHolder(this.dataDir)?.pid === this.holder.pid) {
      rmSync(path.join(this.dataDir, HOLDER_FILE), { force: true });
    }
    this.db.close();
  }
}

/** Opens the lock database and begins an exclusive transaction on it, or returns null when another holds it. */
function lockDatabase(dataDir: string, waitMs: number): { db: BetterSqlite3.Database; inode: number } | null {
  const file = path.join(dataDir, LOCK_FILE);
  const db = new BetterSqlite3(file, { timeout: waitMs });
  try {
    // the rollback journal (not WAL): there an exclusive transaction keeps every other connection out
    db.pragma('journal_mode = DELETE');
    db.exec('CREATE TABLE IF NOT EXISTS lock (id INTEGER PRIMARY KEY)');
    db.exec('BEGIN EXCLUSIVE');
    return { db, inode: statSync(file).ino };
  } catch (error) {
    db.close();
    const code = (error as { code?: string }).code;
    if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') return null;
    throw error;
  }
}

function readHolder(dataDir: string): LockHolder | null {
  try {
    const value = JSON.parse(readFileSync(path.join(dataDir, HOLDER_FILE), 'utf8')) as Partial<LockHolder>;
    if (typeof value.pid !== 'number' || typeof value.host !== 'string' || typeof value.since !== 'string') {
      return null;
    }
    return { pid: value.pid, host: value.host, since: value.since };
  } catch {
    return null;
  }
}

function writeHolder(dataDir: string, holder: LockHolder): void {
  const file = path.join(dataDir, HOLDER_FILE);
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(holder)}\n`, { mode: 0o600 });
  renameSync(temporary, file);
}
