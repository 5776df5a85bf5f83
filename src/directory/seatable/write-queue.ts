/**
 * The durable queue of directory changes waiting for SeaTable (`directory_writes` in the bot's
 * SQLite file). A change is recorded before the caller hears "done", so a crash or restart never
 * loses a registration; it leaves the queue only once SeaTable has taken it (or refused it for good).
 * Changes are taken in order: a later change never overtakes an earlier one on the same row.
 */
import { type Database, nowIso } from '../../store/database.js';
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
  next_attempt_at: number;
  last_error: string | null;
}

export class DirectoryWriteQueue {
  constructor(
    private readonly db: Database,
    /** Which directory the queue belongs to (`seatable`). */
    private readonly source: string,
  ) {}

  /** Records a change; it is due at once. Returns its id. */
  add(write: DirectoryWrite, now = Date.now()): number {
    const result = this.db
      .prepare(
        'INSERT INTO directory_writes (source, write, created_at, attempts, next_attempt_at) VALUES (?, ?, ?, 0, ?)',
      )
      .run(this.source, JSON.stringify(write), nowIso(), now);
    return Number(result.lastInsertRowid);
  }

  /** Every waiting change, oldest first. Rows that cannot be read are left out (and left alone). */
  pending(): QueuedWrite[] {
    const rows = this.db
      .prepare('SELECT * FROM directory_writes WHERE source = ? ORDER BY id')
      .all(this.source) as WriteRow[];
    return rows.flatMap((row) => {
      const write = parseWrite(row.write);
      return write ? [toQueued(row, write)] : [];
    });
  }

  /** The oldest waiting change, or null. */
  head(): QueuedWrite | null {
    const row = this.db
      .prepare('SELECT * FROM directory_writes WHERE source = ? ORDER BY id LIMIT 1')
      .get(this.source) as WriteRow | undefined;
    if (!row) return null;
    const write = parseWrite(row.write);
    if (write) return toQueued(row, write);
    // written by a newer version, or damaged: it cannot be applied, and must not block the rest
    this.remove(row.id);
    return this.head();
  }

  get size(): number {
    return (
      this.db.prepare('SELECT COUNT(*) AS n FROM directory_writes WHERE source = ?').get(this.source) as {
        n: number;
      }
    ).n;
  }

  remove(id: number): void {
    this.db.prepare('DELETE FROM directory_writes WHERE id = ?').run(id);
  }

  /** A failed attempt: counted, and the change waits until `at` (epoch ms). */
  reschedule(id: number, at: number, error: string): void {
    this.db
      .prepare(
        'UPDATE directory_writes SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?',
      )
      .run(at, error, id);
  }
}

function toQueued(row: WriteRow, write: DirectoryWrite): QueuedWrite {
  return {
    id: row.id,
    write,
    createdAt: row.created_at,
    attempts: row.attempts,
    nextAttemptAt: row.next_attempt_at,
    lastError: row.last_error,
  };
}
