/**
 * The SQLite engine of {@link SqlDatabase}: one better-sqlite3 connection to `bot.sqlite` in DATA_DIR.
 * better-sqlite3 is synchronous, so a statement outside a transaction simply runs; a transaction is
 * `BEGIN IMMEDIATE` … `COMMIT` around async work, and while it is open every other caller waits its
 * turn (a FIFO), so no statement of another call chain can slip into it.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type BetterSqlite3 from 'better-sqlite3';
import type { SqlDatabase, SqlRunResult, SqlValue } from './sql-database.js';

interface OpenTransaction {
  savepoints: number;
}

/** How many prepared statements are kept (the stores use a few dozen distinct ones). */
const STATEMENT_CACHE_SIZE = 200;

export class SqliteDatabase implements SqlDatabase {
  readonly engine = 'sqlite' as const;
  private readonly open = new AsyncLocalStorage<OpenTransaction>();
  private readonly statements = new Map<string, BetterSqlite3.Statement>();
  /** Resolves when the last queued turn has finished. */
  private tail: Promise<void> = Promise.resolve();
  /** Turns queued or running (a transaction, or a statement waiting behind one). */
  private turns = 0;

  /** `connection`: an open database with its schema up to date (`openDatabase`). */
  constructor(readonly connection: BetterSqlite3.Database) {}

  all<T>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    return this.statement(sql, () => this.prepared(sql).all(...params) as T[]);
  }

  get<T>(sql: string, params: readonly SqlValue[] = []): Promise<T | undefined> {
    return this.statement(sql, () => this.prepared(sql).get(...params) as T | undefined);
  }

  run(sql: string, params: readonly SqlValue[] = []): Promise<SqlRunResult> {
    return this.statement(sql, () => ({ changes: this.prepared(sql).run(...params).changes }));
  }

  exec(sql: string): Promise<void> {
    return this.statement(sql, () => {
      this.connection.exec(sql);
    });
  }

  async transaction<T>(work: () => Promise<T>): Promise<T> {
    const outer = this.open.getStore();
    if (outer) return this.savepoint(outer, work);
    return this.turn(async () => {
      this.connection.exec('BEGIN IMMEDIATE');
      try {
        const result = await this.open.run({ savepoints: 0 }, work);
        this.connection.exec('COMMIT');
        return result;
      } catch (error) {
        if (this.connection.inTransaction) this.connection.exec('ROLLBACK');
        throw error;
      }
    });
  }

  setFence(_generation: number | null): void {
    // one writer per DATA_DIR already (the instance lock): nothing to fence
  }

  async close(): Promise<void> {
    await this.turn(async () => {
      this.statements.clear();
      this.connection.close();
    });
  }

  private async savepoint<T>(outer: OpenTransaction, work: () => Promise<T>): Promise<T> {
    const name = `nested_${++outer.savepoints}`;
    this.connection.exec(`SAVEPOINT ${name}`);
    try {
      const result = await work();
      this.connection.exec(`RELEASE ${name}`);
      return result;
    } catch (error) {
      this.connection.exec(`ROLLBACK TO ${name}; RELEASE ${name}`);
      throw error;
    }
  }

  /** A single statement: at once when nothing is queued or it belongs to the open transaction. */
  private statement<T>(_sql: string, execute: () => T): Promise<T> {
    if (this.turns === 0 || this.open.getStore()) {
      try {
        return Promise.resolve(execute());
      } catch (error) {
        return Promise.reject(error);
      }
    }
    return this.turn(async () => execute());
  }

  /** Runs `work` when every turn queued before it has finished. */
  private async turn<T>(work: () => Promise<T>): Promise<T> {
    this.turns++;
    const previous = this.tail;
    let finished!: () => void;
    this.tail = new Promise<void>((resolve) => {
      finished = resolve;
    });
    try {
      await previous;
      return await work();
    } finally {
      this.turns--;
      finished();
    }
  }

  private prepared(sql: string): BetterSqlite3.Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      if (this.statements.size >= STATEMENT_CACHE_SIZE) this.statements.clear();
      statement = this.connection.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }
}
