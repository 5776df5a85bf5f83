import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createLeaderLeaseTable,
  LeaderLease,
  leaseTableName,
  openLeasePool,
} from '../../src/leadership/leader-lease.js';
import { FencedError } from '../../src/store/sql-database.js';
import { PostgresCluster } from '../support/postgres-cluster.js';
import { createWritesTable, fencedWrite, newPool, SCHEMA, sleep } from './lease-test-support.js';

let cluster: PostgresCluster;
let pool: pg.Pool;

beforeAll(async () => {
  cluster = await PostgresCluster.start();
  pool = newPool(cluster.url(), 4);
  await createLeaderLeaseTable(pool, SCHEMA);
  await createWritesTable(pool);
});

afterAll(async () => {
  await pool?.end();
  await cluster?.destroy();
});

beforeEach(async () => {
  await pool.query(`DELETE FROM ${leaseTableName(SCHEMA)}`);
});

function lease(holder: string, options: Partial<ConstructorParameters<typeof LeaderLease>[0]> = {}) {
  return new LeaderLease({ pool, schema: SCHEMA, leaseSeconds: 2, marginMs: 500, holder, ...options });
}

describe('LeaderLease', () => {
  it('lets one of two holders take a free lease; the other gets nothing while it is valid', async () => {
    const a = lease('a');
    const b = lease('b');
    const [gotA, gotB] = await Promise.all([a.tryAcquire(), b.tryAcquire()]);
    expect([gotA, gotB].filter(Boolean)).toHaveLength(1);
    const winner = gotA ? a : b;
    const loser = gotA ? b : a;
    expect(winner.isHeld()).toBe(true);
    expect(winner.generation).toBe(1);
    expect((gotA ?? gotB)?.previous).toBeNull();
    expect(loser.isHeld()).toBe(false);
    expect(loser.generation).toBeNull();
    expect(await loser.tryAcquire()).toBeNull();
    expect(await loser.renew()).toBe(false);
    const row = await winner.read();
    expect(row).toMatchObject({ holder: winner.holder, generation: 1, valid: true });
  });

  it('keeps the times by the database clock: expiry = renewal + the lease time', async () => {
    const a = lease('a');
    await a.tryAcquire();
    const { rows } = await pool.query<{ length: number; skew: number }>(
      `SELECT extract(epoch FROM expires_at - renewed_at) AS length,
              abs(extract(epoch FROM renewed_at - now())) AS skew
       FROM ${leaseTableName(SCHEMA)}`,
    );
    expect(Number(rows[0]?.length)).toBe(2);
    expect(Number(rows[0]?.skew)).toBeLessThan(1);
  });

  it('is taken over once the holder stops renewing and it expires, with the generation bumped', async () => {
    const a = lease('a');
    const b = lease('b');
    expect(await a.tryAcquire()).toMatchObject({ generation: 1 });
    // renewals keep it: b gets nothing over three lease times
    for (let i = 0; i < 6; i += 1) {
      await sleep(700);
      expect(await a.renew()).toBe(true);
      expect(await b.tryAcquire()).toBeNull();
    }
    // a stops renewing: before the expiry b still gets nothing, after it b takes it
    await sleep(1000);
    expect(await b.tryAcquire()).toBeNull();
    await sleep(1200);
    // a's local deadline (lease − margin after its last renewal started) passed before the database's expiry
    expect(a.isHeld()).toBe(false);
    expect(await b.tryAcquire()).toMatchObject({ generation: 2, previous: { holder: 'a', expired: true } });
    expect(await a.renew()).toBe(false);
    expect(a.generation).toBeNull();
    // the former holder's fenced write fails, the new holder's commits
    await expect(fencedWrite(pool, 1, 'a')).rejects.toBeInstanceOf(FencedError);
    await fencedWrite(pool, 2, 'b');
  });

  it('counts itself no longer holder past its monotonic deadline, though the database still says it holds', async () => {
    let now = 1000;
    const a = lease('a', { leaseSeconds: 10, marginMs: 2000, monotonicNow: () => now });
    expect(await a.tryAcquire()).not.toBeNull();
    now += 7999;
    expect(a.isHeld()).toBe(true);
    now += 1;
    expect(a.isHeld()).toBe(false);
    expect(a.generation).toBeNull();
    expect(await a.read()).toMatchObject({ holder: 'a', valid: true });
    // a renewal measured from its start sets the deadline again
    expect(await a.renew()).toBe(true);
    now += 7999;
    expect(a.isHeld()).toBe(true);
  });

  it('measures the deadline from the start of a renewal, not from its answer', async () => {
    let now = 0;
    // every answer comes 5 s after its question (a frozen process, a slow network)
    const slow = async <T>(answer: Promise<T>): Promise<T> => {
      const result = await answer;
      now += 5000;
      return result;
    };
    const slowPool = {
      query: (config: pg.QueryConfig) => slow(pool.query(config)),
      connect: async () => {
        const client = await pool.connect();
        return {
          // the acquisition's own statement answers late (its BEGIN, lock and COMMIT at once)
          query: (config: pg.QueryConfig | string) =>
            typeof config !== 'string' && config.text.includes('INSERT')
              ? slow(client.query(config))
              : client.query(config as pg.QueryConfig),
          release: (error?: Error) => client.release(error),
        };
      },
    } as unknown as pg.Pool;
    const a = new LeaderLease({
      pool: slowPool,
      schema: SCHEMA,
      leaseSeconds: 10,
      marginMs: 2000,
      holder: 'a',
      monotonicNow: () => now,
    });
    await a.tryAcquire();
    expect(a.msUntilDeadline()).toBe(3000);
    await a.renew();
    expect(a.msUntilDeadline()).toBe(3000);
  });

  it('tells a standby, by the database clock, how long until the lease runs out', async () => {
    const a = lease('a', { leaseSeconds: 10 });
    const b = lease('b', { leaseSeconds: 10 });
    expect(await b.msUntilExpiry()).toBe(0);
    await a.tryAcquire();
    const remaining = await b.msUntilExpiry();
    expect(remaining).toBeGreaterThan(9000);
    expect(remaining).toBeLessThanOrEqual(10_000);
    await a.release();
    expect(await b.msUntilExpiry()).toBe(0);
  });

  it('releases at once on a clean shutdown: the other takes it without waiting for the expiry', async () => {
    const a = lease('a', { leaseSeconds: 60 });
    const b = lease('b', { leaseSeconds: 60 });
    await a.tryAcquire();
    expect(await b.tryAcquire()).toBeNull();
    await a.release();
    expect(a.isHeld()).toBe(false);
    expect(await b.tryAcquire()).toMatchObject({ generation: 2, previous: { holder: 'a', expired: false } });
    // releasing what it no longer holds changes nothing
    await a.release();
    expect(await b.read()).toMatchObject({ holder: 'b', generation: 2, valid: true });
  });

  it('re-acquires its own still-valid lease with a new generation (the old one is fenced)', async () => {
    const a = lease('a', { leaseSeconds: 60 });
    await a.tryAcquire();
    const again = lease('a', { leaseSeconds: 60 });
    expect(await again.tryAcquire()).toMatchObject({ generation: 2 });
    await expect(fencedWrite(pool, 1, 'a')).rejects.toBeInstanceOf(FencedError);
    expect(await a.renew()).toBe(false);
  });

  it('does not renew an expired lease even when nobody took it: the holder must acquire (new generation)', async () => {
    const a = lease('a');
    await a.tryAcquire();
    await sleep(2200);
    expect(await a.renew()).toBe(false);
    expect(await a.tryAcquire()).toMatchObject({ generation: 2 });
  });

  it('a new holder is not granted the lease while a fenced write of the old one is still open', async () => {
    const a = lease('a');
    const b = lease('b');
    await a.tryAcquire();
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const check = await client.query(
        `SELECT 1 FROM ${leaseTableName(SCHEMA)} WHERE name = 'leader' AND generation = 1 AND expires_at > now() FOR SHARE`,
      );
      expect(check.rowCount).toBe(1);
      await sleep(2300); // the lease expires while the write is open
      let acquired = false;
      const taking = b.tryAcquire().then((held) => {
        acquired = held !== null;
      });
      await sleep(300);
      expect(acquired).toBe(false);
      await client.query(`INSERT INTO "${SCHEMA}".fenced_writes (writer, generation) VALUES ('a', 1)`);
      await client.query('COMMIT');
      await taking;
      expect(acquired).toBe(true);
    } finally {
      client.release();
    }
  });
});

describe('openLeasePool', () => {
  it('a session frozen in the middle of a takeover loses its row lock after the margin, and does not end the process', async () => {
    const leaseSeconds = 5;
    const leasePool = openLeasePool(cluster.url(), leaseSeconds);
    try {
      const leader = lease('leader', { leaseSeconds, marginMs: 1000 });
      expect(await leader.tryAcquire()).not.toBeNull();
      // a standby's takeover transaction, stopped between its statements (SIGSTOP, a paused VM)
      const frozen = await leasePool.connect();
      let frozenError: unknown;
      try {
        await frozen.query('BEGIN');
        await frozen.query(`SELECT 1 FROM ${leaseTableName(SCHEMA)} WHERE name = 'leader' FOR UPDATE`);
        const renewing = performance.now();
        // the renewal waits for the row lock until the server ends the frozen session (a fifth of the
        // lease, 1 s), well within the renewal's own timeout
        expect(await leader.renew()).toBe(true);
        const waited = performance.now() - renewing;
        expect(waited).toBeGreaterThanOrEqual(800);
        expect(waited).toBeLessThan(3000);
        // the server ended the session: a checked-out client's 'error' event, which must not be unhandled
        await sleep(200);
        await frozen.query('SELECT 1').catch((error: unknown) => {
          frozenError = error;
        });
      } finally {
        frozen.release(true);
      }
      expect(String(frozenError)).toMatch(/terminat|idle-in-transaction|Connection/i);
    } finally {
      await leasePool.end();
    }
  });
});
