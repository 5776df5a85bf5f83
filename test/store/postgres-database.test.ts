/**
 * The PostgreSQL engine against a real throwaway cluster: what only it has (the write lock across
 * instances, fencing, the idle-in-transaction timeout, outages) and what it must translate (placeholders,
 * bytea, error texts without the password). The semantics shared with SQLite: sql-database-contract.test.ts.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStateDatabase } from '../../src/store/open-state-database.js';
import { numberPlaceholders, PostgresDatabase } from '../../src/store/postgres-database.js';
import { openPostgresDatabase, POSTGRES_SCHEMA_VERSION } from '../../src/store/postgres-schema.js';
import { FencedError, nowIso, StateUnavailableError } from '../../src/store/sql-database.js';
import { PostgresCluster } from '../support/postgres-cluster.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let cluster: PostgresCluster;
let url: string;
let schemaCount = 0;
const opened: PostgresDatabase[] = [];

beforeAll(async () => {
  cluster = await PostgresCluster.start();
  url = await cluster.createDatabase();
});

afterAll(async () => {
  for (const db of opened) await db.close().catch(() => undefined);
  await cluster?.destroy();
});

/** A new schema, migrated, and `instances` engines on it (like bot instances sharing one database). */
async function instances(count: number, options: { idleInTransactionTimeoutMs?: number } = {}) {
  const schema = `pgtest_${++schemaCount}`;
  const dbs: PostgresDatabase[] = [];
  for (let i = 0; i < count; i++) {
    const db = await openPostgresDatabase({ url, schema, ...options });
    opened.push(db);
    dbs.push(db);
  }
  return dbs;
}

/** A raw session on the test database (a takeover by another instance, an inspection). */
async function rawClient(schema: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, options: `-c search_path=${schema}` });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

async function setLease(db: PostgresDatabase, generation: number, expiresInSeconds: number): Promise<void> {
  await db.withClient(async (query) => {
    await query(
      `INSERT INTO leader_lease (name, holder, generation, expires_at, renewed_at)
       VALUES ('leader', 'test', $1, now() + make_interval(secs => $2), now())
       ON CONFLICT (name) DO UPDATE SET generation = excluded.generation, expires_at = excluded.expires_at`,
      [generation, expiresInSeconds],
    );
  });
}

async function addWatermark(db: PostgresDatabase, mailbox: string, lastUid: number): Promise<void> {
  await db.run(
    'INSERT INTO mailbox_watermarks (mailbox, uid_validity, last_uid, updated_at) VALUES (?, ?, ?, ?)',
    [mailbox, '1', lastUid, nowIso()],
  );
}

async function lastUid(db: PostgresDatabase, mailbox: string): Promise<number | undefined> {
  return (
    await db.get<{ last_uid: number }>('SELECT last_uid FROM mailbox_watermarks WHERE mailbox = ?', [mailbox])
  )?.last_uid;
}

describe('numberPlaceholders', () => {
  it('numbers ? outside strings, quoted identifiers, comments and dollar quotes', () => {
    expect(numberPlaceholders('SELECT ?, ? FROM t WHERE a = ?')).toBe('SELECT $1, $2 FROM t WHERE a = $3');
    expect(numberPlaceholders(`SELECT 'a?''b?' AS "c?""d", ? -- why?\n, ? /* x? */, $q$?$q$, ?`)).toBe(
      `SELECT 'a?''b?' AS "c?""d", $1 -- why?\n, $2 /* x? */, $q$?$q$, $3`,
    );
  });
});

describe('PostgresDatabase', () => {
  it('creates its schema (any name, quoted) and refuses one written by a newer version', async () => {
    const schema = 'Bot "state" x';
    const db = await openPostgresDatabase({ url, schema });
    opened.push(db);
    await addWatermark(db as PostgresDatabase, 'a@example.com', 3);
    expect(await lastUid(db, 'A@EXAMPLE.COM')).toBe(3);
    const tables = await cluster.query<{ n: string }>(
      'SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = \'Bot "state" x\'',
      [],
      url.split('/').pop(),
    );
    expect(Number(tables[0]?.n)).toBeGreaterThan(15);
    await db.withClient((query) => query('INSERT INTO schema_migrations (version) VALUES (99)'));
    await expect(openPostgresDatabase({ url, schema })).rejects.toThrow(
      /written by a newer version of superset-telegram-bot \(schema 99, this version knows \d+\)/,
    );
  });

  it('migrates once when two instances start together', async () => {
    const schema = `together_${++schemaCount}`;
    const [a, b] = await Promise.all([
      openPostgresDatabase({ url, schema }),
      openPostgresDatabase({ url, schema }),
    ]);
    opened.push(a, b);
    const versions = await a.all<{ version: number }>(
      'SELECT version FROM schema_migrations ORDER BY version',
    );
    expect(versions.map((row) => row.version)).toEqual(
      Array.from({ length: POSTGRES_SCHEMA_VERSION }, (_, i) => i + 1),
    );
  });

  it('stores and returns bytea as a Buffer', async () => {
    const [db] = await instances(1);
    if (!db) throw new Error('no db');
    await db.exec('CREATE TABLE blobs (id bigint PRIMARY KEY, data bytea NOT NULL)');
    const data = Buffer.from([0, 1, 2, 255, 0x3f]);
    await db.run('INSERT INTO blobs (id, data) VALUES (?, ?)', [1, data]);
    const row = await db.get<{ data: Buffer }>('SELECT data FROM blobs WHERE id = ?', [1]);
    expect(Buffer.isBuffer(row?.data)).toBe(true);
    expect(row?.data.equals(data)).toBe(true);
  });

  it('runs write transactions of several instances one at a time (no lost update)', async () => {
    const [a, b] = await instances(2);
    if (!a || !b) throw new Error('no db');
    await addWatermark(a, 'count@example.com', 0);
    const increment = (db: PostgresDatabase) =>
      db.transaction(async () => {
        const seen = (await lastUid(db, 'count@example.com')) ?? 0;
        await sleep(15);
        await db.run('UPDATE mailbox_watermarks SET last_uid = ? WHERE mailbox = ?', [
          seen + 1,
          'count@example.com',
        ]);
      });
    await Promise.all(Array.from({ length: 10 }, (_, i) => increment(i % 2 === 0 ? a : b)));
    expect(await lastUid(a, 'count@example.com')).toBe(10);

    // the same read-then-write in plain transactions (no lock) loses updates: the lock is what counts
    const schema = a.schema;
    const sessions = await Promise.all([rawClient(schema), rawClient(schema)]);
    await Promise.all(
      sessions.map(async (client) => {
        await client.query('BEGIN');
        const seen = (
          await client.query("SELECT last_uid FROM mailbox_watermarks WHERE mailbox = 'count@example.com'")
        ).rows[0].last_uid;
        await sleep(50);
        await client.query(
          "UPDATE mailbox_watermarks SET last_uid = $1 WHERE mailbox = 'count@example.com'",
          [Number(seen) + 1],
        );
        await client.query('COMMIT');
      }),
    );
    for (const client of sessions) await client.end();
    expect(await lastUid(a, 'count@example.com')).toBe(11);
  });

  it('fences writes: a stale or expired generation cannot commit, reads still work', async () => {
    const [db] = await instances(1);
    if (!db) throw new Error('no db');
    await setLease(db, 1, 60);
    db.setFence(1);
    await addWatermark(db, 'fenced@example.com', 1);
    await db.transaction(() => db.run('UPDATE mailbox_watermarks SET last_uid = 2'));
    expect(await lastUid(db, 'fenced@example.com')).toBe(2);

    // another instance took over
    await setLease(db, 2, 60);
    await expect(db.run('UPDATE mailbox_watermarks SET last_uid = 3')).rejects.toBeInstanceOf(FencedError);
    await expect(db.transaction(() => db.run('UPDATE mailbox_watermarks SET last_uid = 4'))).rejects.toThrow(
      /no longer holds the leader lease \(generation 1\)/,
    );
    await expect(
      db.get(
        'INSERT INTO chat_languages (chat_id, language, updated_at) VALUES (1, ?, ?) RETURNING chat_id',
        ['en', nowIso()],
      ),
    ).rejects.toBeInstanceOf(FencedError);
    expect(await lastUid(db, 'fenced@example.com')).toBe(2);

    // our own generation, but the lease ran out (a paused leader)
    await setLease(db, 1, -1);
    await expect(db.run('UPDATE mailbox_watermarks SET last_uid = 5')).rejects.toBeInstanceOf(FencedError);
    db.setFence(null);
    await db.run('UPDATE mailbox_watermarks SET last_uid = 6');
    expect(await lastUid(db, 'fenced@example.com')).toBe(6);
  });

  it('lets a write in flight finish before a takeover, and refuses the old leader the write after it', async () => {
    const [db] = await instances(1);
    if (!db) throw new Error('no db');
    await setLease(db, 1, 60);
    await addWatermark(db, 'race@example.com', 0);
    db.setFence(1);
    const events: string[] = [];
    const inFlight = db.transaction(async () => {
      await db.run('UPDATE mailbox_watermarks SET last_uid = 1');
      await sleep(300);
      await db.run('UPDATE mailbox_watermarks SET last_uid = 2');
      events.push('old leader committing');
    });
    await sleep(100);
    const takeover = await rawClient(db.schema);
    // a takeover as LeaderLease makes it: the row locked FOR UPDATE first, then the new generation
    await takeover.query('BEGIN');
    await takeover.query("SELECT 1 FROM leader_lease WHERE name = 'leader' FOR UPDATE");
    await takeover.query("UPDATE leader_lease SET generation = 2, holder = 'new' WHERE name = 'leader'");
    await takeover.query('COMMIT');
    events.push('takeover done');
    await inFlight;
    expect(events).toEqual(['old leader committing', 'takeover done']);
    expect(await lastUid(db, 'race@example.com')).toBe(2);
    await expect(db.run('UPDATE mailbox_watermarks SET last_uid = 3')).rejects.toBeInstanceOf(FencedError);

    // the other order: the takeover is under way (not committed) when the old leader writes
    db.setFence(2);
    await takeover.query('BEGIN');
    await takeover.query("SELECT 1 FROM leader_lease WHERE name = 'leader' FOR UPDATE");
    await takeover.query("UPDATE leader_lease SET generation = 3, holder = 'newer' WHERE name = 'leader'");
    const late = db.run('UPDATE mailbox_watermarks SET last_uid = 4');
    await sleep(150);
    await takeover.query('COMMIT');
    await expect(late).rejects.toBeInstanceOf(FencedError);
    await takeover.end();
    expect(await lastUid(db, 'race@example.com')).toBe(2);
  });

  it('ends a transaction left idle (a frozen process), so another instance proceeds', async () => {
    const [stuck, other] = await instances(2, { idleInTransactionTimeoutMs: 800 });
    if (!stuck || !other) throw new Error('no db');
    await addWatermark(other, 'idle@example.com', 0);
    const started = Date.now();
    const frozen = stuck.transaction(async () => {
      await stuck.run('UPDATE mailbox_watermarks SET last_uid = 100');
      await sleep(3000); // as if SIGSTOPped while holding the write lock
      await stuck.run('UPDATE mailbox_watermarks SET last_uid = 101');
    });
    const frozenResult = frozen.then(
      () => 'committed',
      (error: unknown) => error,
    );
    await sleep(100);
    await other.run('UPDATE mailbox_watermarks SET last_uid = 7');
    expect(Date.now() - started).toBeLessThan(2500);
    expect(await lastUid(other, 'idle@example.com')).toBe(7);
    expect(await frozenResult).toBeInstanceOf(StateUnavailableError);
    expect(await lastUid(other, 'idle@example.com')).toBe(7);
    // the instance whose session was ended works again
    await stuck.run('UPDATE mailbox_watermarks SET last_uid = 8');
    expect(await lastUid(other, 'idle@example.com')).toBe(8);
  });

  it('never puts the URL or its password in an error', async () => {
    const wrongPassword = url.replace(encodeURIComponent(cluster.password), 'Wr0ng-Secret-Pass');
    const error = await openPostgresDatabase({ url: wrongPassword, schema: 'x' }).catch(
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(Error);
    expect(String((error as Error).message)).toMatch(/password authentication failed/);
    expect((error as Error).message).not.toContain('Wr0ng-Secret-Pass');

    const [db] = await instances(1);
    if (!db) throw new Error('no db');
    const syntax = await db.get("SELECT 'Wr0ng' FROM nowhere_at_all").catch((caught: unknown) => caught);
    expect((syntax as Error).message).toMatch(/nowhere_at_all/);

    const closedPort = url.replace(`:${cluster.port}/`, ':1/');
    const unreachable = new PostgresDatabase({ url: closedPort, connectTimeoutMs: 2000 });
    const refused = await unreachable.get('SELECT 1').catch((caught: unknown) => caught);
    await unreachable.close();
    expect(refused).toBeInstanceOf(StateUnavailableError);
    expect((refused as Error).message).toMatch(/PostgreSQL at 127\.0\.0\.1:1\/\S+ is unavailable/);
    for (const text of [(refused as Error).message, (syntax as Error).message, (error as Error).message]) {
      expect(text).not.toContain(cluster.password);
      expect(text).not.toContain(encodeURIComponent(cluster.password));
      expect(text).not.toContain('postgres://');
    }
  });

  it('is what openStateDatabase opens with DATABASE_URL; SQLite in DATA_DIR without it', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'state-'));
    try {
      const onPostgres = await openStateDatabase({
        DATA_DIR: dataDir,
        DATABASE_URL: url,
        DATABASE_SCHEMA: `state_${++schemaCount}`,
      });
      expect(onPostgres).toBeInstanceOf(PostgresDatabase);
      expect(await onPostgres.get('SELECT count(*) AS n FROM reports')).toEqual({ n: 0 });
      await onPostgres.close();
      const onSqlite = await openStateDatabase({
        DATA_DIR: dataDir,
        DATABASE_URL: undefined,
        DATABASE_SCHEMA: 'x',
      });
      expect(onSqlite.engine).toBe('sqlite');
      expect(await onSqlite.get('SELECT count(*) AS n FROM reports')).toEqual({ n: 0 });
      await onSqlite.close();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  // last: it stops the cluster
  it('is unavailable while the server is down, and works again after it restarts', async () => {
    const [db] = await instances(1);
    if (!db) throw new Error('no db');
    await addWatermark(db, 'restart@example.com', 1);
    const inFlight = db.transaction(async () => {
      await db.run('UPDATE mailbox_watermarks SET last_uid = 2');
      await sleep(1500);
      await db.run('UPDATE mailbox_watermarks SET last_uid = 3');
    });
    const inFlightResult = inFlight.catch((caught: unknown) => caught);
    await sleep(200);
    await cluster.stop('fast');
    expect(await inFlightResult).toBeInstanceOf(StateUnavailableError);
    for (const attempt of [
      db.get('SELECT 1 AS one'),
      db.run('UPDATE mailbox_watermarks SET last_uid = 9'),
      db.transaction(() => db.run('UPDATE mailbox_watermarks SET last_uid = 9')),
    ]) {
      const error = await attempt.catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(StateUnavailableError);
      expect((error as Error).message).not.toContain(cluster.password);
    }
    await cluster.start();
    expect(await lastUid(db, 'restart@example.com')).toBe(1);
    await db.run('UPDATE mailbox_watermarks SET last_uid = 4');
    expect(await lastUid(db, 'restart@example.com')).toBe(4);

    // a crash (no goodbye to the sessions) as well
    await cluster.stop('immediate');
    await expect(db.get('SELECT 1')).rejects.toBeInstanceOf(StateUnavailableError);
    await cluster.start();
    await db.run('UPDATE mailbox_watermarks SET last_uid = 5');
    expect(await lastUid(db, 'restart@example.com')).toBe(5);
  });
});
