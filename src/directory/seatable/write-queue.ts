/**
 * The durable queue of directory changes waiting for SeaTable (`directory_writes` in the bot's
 * state). A change is recorded before the caller hears "done", so a crash or restart never loses a
 * registration; it leaves the queue only once SeaTable has taken it (or refused it for good).
 * Changes are taken in order: a later change never overtakes an earlier one on the same row.
 *
 * Only the running bot (the leader) changes its queue, so the queue is read from the database once
 * (`load`) and then kept in memory in step with every change made here: the directory's copy, which
 * must show every queued change at every moment, reads it without waiting on the database.
 */
import { nowIso, type SqlDatabase } from '../../store/sql-database.js';
import { type DirectoryWrite, parseWrite } from './directory-writes.js';

export interface QueuedWrite {
  id: number;
  write: DirectoryWrite;
  createdAt: string;
  /** Failed attempts so far. */
  attempts: number;
  /** Epoch ms before which the write is not tried again. */
  nextAttemptAt: number;
  lastError: string | null;
}

interface WriteRow {
  id: number;
  write: string;
  created_at: string;
  attempts: number;
  next_attempt_at: number | string;
  last_error: string | null;
}

export class DirectoryWriteQueue {
  /** The waiting changes, oldest first, as stored. */
  private waiting: QueuedWrite[] = [];
  private loading: Promise<void> | null = null;

  constructor(
    private readonly db: SqlDatabase,
    /** Which directory the queue belongs to (`seatable`). */
    private readonly source: string,
  ) {}

  /**
   * Reads the changes left by an earlier run (once; later calls share it). Rows that cannot be read
   * (written by a newer version, or damaged) cannot be applied and must not block the rest: they are
   * deleted.
   */
  load(): Promise<void> {
    this.loading ??= this.readStored().catch((error: unknown) => {
      this.loading = null; // the next call tries again
      throw error;
    });
    return this.loading;
  }

  /**
   * Forgets what was read: the next `load` reads the table again (a new leader takes over the changes
   * the previous one queued).
   */
  unload(): void {
    this.loading = null;
    this.waiting = [];
  }

  private async readStored(): Promise<void> {
    const rows = await this.db.all<WriteRow>('SELECT * FROM directory_writes WHERE source = ? ORDER BY id', [
      this.source,
    ]);
    const waiting: QueuedWrite[] = [];
    for (const row of rows) {
      const write = parseWrite(row.write);
      if (write) waiting.push(toQueued(row, write));
      else await this.db.run('DELETE FROM directory_writes WHERE id = ?', [row.id]);
    }
    this.waiting = waiting;
  }

  /** Records a change (durably, before it resolves); it is due at once. Returns its id. */
  async add(write: DirectoryWrite, now = Date.now()): Promise<number> {
    await this.load();
    const createdAt = nowIso();
    const row = await this.db.get<{ id: number }>(
      'INSERT INTO directory_writes (source, write, created_at, attempts, next_attempt_at) VALUES (?, ?, ?, 0, ?) RETURNING id',
      [this.source, JSON.stringify(write), createdAt, now],
    );
    const id = Number(row!.id);
    this.waiting.push({ id, write, createdAt, attempts: 0, nextAttemptAt: now, lastError: null });
    return id;
  }

  /** Every waiting change, oldest first (none before `load`). */
  pending(): QueuedWrite[] {
    return [...this.waiting];
  }

  /** The oldest waiting change, or null. */
  head(): QueuedWrite | null {
    return this.waiting[0] ?? null;
  }

  get size(): number {
    return this.waiting.length;
  }

  async remove(id: number): Promise<void> {
    await this.db.run('DELETE FROM directory_writes WHERE id = ?', [id]);
    this.waiting = this.waiting.filter((entry) => entry.id !== id);
  }

  /** A failed attempt: counted, and the change waits until `at` (epoch ms). */
  async reschedule(id: number, at: number, error: string): Promise<void> {
    // whole milliseconds: PostgreSQL's bigint refuses a fraction (a server's "Retry-After: 1.5")
    at = Math.ceil(at);
    await this.db.run(
      'UPDATE directory_writes SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?',
      [at, error, id],
    );
    this.waiting = this.waiting.map((entry) =>
      entry.id === id
        ? { ...entry, attempts: entry.attempts + 1, nextAttemptAt: at, lastError: error }
        : entry,
    );
  }
}

function toQueued(row: WriteRow, write: DirectoryWrite): QueuedWrite {
  return {
    id: Number(row.id),
    write,
    createdAt: row.created_at,
    attempts: row.attempts,
    nextAttemptAt: Number(row.next_attempt_at),
    lastError: row.last_error,
  };
}
