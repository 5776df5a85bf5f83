/**
 * What the leadership tests share: a pool that survives a server restart, and a fenced write modelled
 * on the PostgreSQL engine's fence (PostgresDatabase's checkFence: a write commits only while its
 * generation holds the lease; the check runs inside the write's transaction and locks the lease row
 * FOR SHARE, so a new leader's acquisition waits for it).
 */
import pg from 'pg';
import { leaseTableName } from '../../src/leadership/leader-lease.js';
import { FencedError } from '../../src/store/sql-database.js';

export const SCHEMA = 'stb';

export function newPool(url: string, max = 2): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max, connectionTimeoutMillis: 2000 });
  // a restarted server ends idle connections: an 'error' event without a listener would end the process
  pool.on('error', () => undefined);
  return pool;
}

/** The table fenced writes go to in these tests. */
export async function createWritesTable(pool: pg.Pool): Promise<void> {
  await pool.query(
    `CREATE TABLE IF NOT EXISTS "${SCHEMA}".fenced_writes (
       id bigserial PRIMARY KEY, writer text NOT NULL, generation bigint NOT NULL,
       written_at timestamptz NOT NULL DEFAULT clock_timestamp())`,
  );
}

/** Inserts a row only while `generation` holds the lease `name`; throws FencedError otherwise. */
export async function fencedWrite(
  pool: pg.Pool,
  generation: number,
  writer: string,
  name = 'leader',
): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const lease = await client.query(
      `SELECT 1 FROM ${leaseTableName(SCHEMA)}
       WHERE name = $1 AND generation = $2 AND expires_at > now()
       FOR SHARE`,
      [name, generation],
    );
    if (lease.rowCount === 0) throw new FencedError(generation);
    await client.query(`INSERT INTO "${SCHEMA}".fenced_writes (writer, generation) VALUES ($1, $2)`, [
      writer,
      generation,
    ]);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `condition` every 20 ms until it holds or `timeoutMs` passes (then throws `what`). */
export async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}
