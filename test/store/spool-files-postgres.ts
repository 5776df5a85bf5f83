/**
 * The PostgreSQL side of spool-files.test.ts: a throwaway cluster (test/support/postgres-cluster.ts)
 * and, until engineer "pg"'s PostgresDatabase is merged, a minimal SqlDatabase over a `pg` Pool with
 * the same contract (`?` parameters, transactions on the async call chain, nested = savepoint).
 * Absent (null) when PostgreSQL is not installed.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import pg from 'pg';
import { POSTGRES_SPOOL_FILES_DDL } from '../../src/store/spool-files.js';
import type { SqlDatabase, SqlRunResult, SqlValue } from '../../src/store/sql-database.js';
import { PostgresCluster, postgresInstalled } from '../support/postgres-cluster.js';

interface OpenTransaction {
  client: pg.PoolClient;
  savepoints: number;
}

class MinimalPostgresDatabase implements SqlDatabase {
  readonly engine = 'postgres' as const;
  private readonly open = new AsyncLocalStorage<OpenTransaction>();

  constructor(private readonly pool: pg.Pool) {}

  async all<T>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    return (await this.query(sql, params)).rows as T[];
  }

  async get<T>(sql: string, params: readonly SqlValue[] = []): Promise<T | undefined> {
    return (await this.query(sql, params)).rows[0] as T | undefined;
  }

  async run(sql: string, params: readonly SqlValue[] = []): Promise<SqlRunResult> {
    return { changes: (await this.query(sql, params)).rowCount ?? 0 };
  }

  async exec(sql: string): Promise<void> {
    await this.pool.query(sql);
  }

  async transaction<T>(work: () => Promise<T>): Promise<T> {
    const outer = this.open.getStore();
    if (outer) {
      const name = `nested_${++outer.savepoints}`;
      await outer.client.query(`SAVEPOINT ${name}`);
      try {
        const result = await work();
        await outer.client.query(`RELEASE SAVEPOINT ${name}`);
        return result;
      } catch (error) {
        await outer.client.query(`ROLLBACK TO SAVEPOINT ${name}`);
        throw error;
      }
    }
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      try {
        const result = await this.open.run({ client, savepoints: 0 }, work);
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK');
        throw error;
      }
    } finally {
      client.release();
    }
  }

  setFence(): void {}

  async close(): Promise<void> {
    await this.pool.end();
  }

  private query(sql: string, params: readonly SqlValue[]) {
    let index = 0;
    const text = sql.replace(/\?/g, () => `$${++index}`);
    const runner = this.open.getStore()?.client ?? this.pool;
    return runner.query(text, params as unknown[]);
  }
}

let cluster: PostgresCluster | null = null;

export const postgresEngine = postgresInstalled()
  ? {
      name: 'postgres',
      async open(): Promise<SqlDatabase> {
        cluster ??= await PostgresCluster.start();
        const db = new MinimalPostgresDatabase(
          new pg.Pool({ connectionString: await cluster.createDatabase(), max: 4 }),
        );
        await db.exec(POSTGRES_SPOOL_FILES_DDL);
        return db;
      },
      async teardown(): Promise<void> {
        await cluster?.destroy();
        cluster = null;
      },
    }
  : null;
