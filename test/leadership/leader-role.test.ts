import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLeaderLeaseTable, LeaderLease, leaseTableName } from '../../src/leadership/leader-lease.js';
import { LeaderRole, type RoleEvent } from '../../src/leadership/leader-role.js';
import { FencedError } from '../../src/store/sql-database.js';
import { PostgresCluster } from '../support/postgres-cluster.js';
import { newPool, SCHEMA, sleep, waitFor } from './lease-test-support.js';

/** The smallest LEASE_SECONDS the setting accepts: these tests run the real timings. */
const LEASE_SECONDS = 5;

let cluster: PostgresCluster;
let admin: pg.Pool;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  cluster = await PostgresCluster.start();
  admin = newPool(cluster.url(), 2);
  await createLeaderLeaseTable(admin, SCHEMA);
});

afterAll(async () => {
  await admin?.end();
  await cluster?.destroy();
});

beforeEach(async () => {
  await admin.query(`DELETE FROM ${leaseTableName(SCHEMA)}`);
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

/** What happened to one instance, in order, with monotonic times. */
type Happening =
  | { what: 'fence'; generation: number | null; at: number }
  | { what: 'work-started'; generation: number; at: number }
  | { what: 'work-stopped'; at: number }
  | { what: 'event'; event: RoleEvent; at: number };

interface Instance {
  name: string;
  pool: pg.Pool;
  lease: LeaderLease;
  role: LeaderRole;
  log: Happening[];
  /** Whether the fake leader work is running now. */
  working: () => boolean;
}

function instance(
  name: string,
  options: {
    stopDelayMs?: number;
    failStart?: () => boolean;
    /** The stop throws (the work hung past its bound) and the fake work goes on running. */
    failStop?: () => boolean;
    monotonicNow?: () => number;
  } = {},
): Instance {
  const pool = newPool(cluster.url(), 2);
  const log: Happening[] = [];
  let working = false;
  const lease = new LeaderLease({
    pool,
    schema: SCHEMA,
    leaseSeconds: LEASE_SECONDS,
    holder: `${name}:${process.pid}`,
    ...(options.monotonicNow ? { monotonicNow: options.monotonicNow } : {}),
  });
  const role = new LeaderRole({
    lease,
    db: { setFence: (generation) => log.push({ what: 'fence', generation, at: performance.now() }) },
    startLeaderWork: async (generation) => {
      await sleep(50);
      if (options.failStart?.()) throw new Error('the listeners could not start');
      working = true;
      log.push({ what: 'work-started', generation, at: performance.now() });
    },
    stopLeaderWork: async () => {
      await sleep(options.stopDelayMs ?? 50);
      if (options.failStop?.()) throw new Error('the leader work did not stop within its bound');
      working = false;
      log.push({ what: 'work-stopped', at: performance.now() });
    },
    onEvent: (event) => log.push({ what: 'event', event, at: performance.now() }),
  });
  cleanups.push(async () => {
    await role.stop();
    await pool.end();
  });
  return { name, pool, lease, role, log, working: () => working };
}

/** Samples every 10 ms that never two instances count themselves leader (or run the leader's work). */
function watchSingleLeader(instances: Instance[]): { stop: () => { samples: number; overlaps: number } } {
  let samples = 0;
  let overlaps = 0;
  const timer = setInterval(() => {
    samples += 1;
    if (instances.filter((one) => one.role.isLeader()).length > 1) overlaps += 1;
    if (instances.filter((one) => one.working()).length > 1) overlaps += 1;
  }, 10);
  return {
    stop: () => {
      clearInterval(timer);
      return { samples, overlaps };
    },
  };
}

function events(one: Instance): RoleEvent[] {
  return one.log.flatMap((entry) => (entry.what === 'event' ? [entry.event] : []));
}

function firstAt(one: Instance, test: (entry: Happening) => boolean): number {
  const entry = one.log.find(test);
  if (!entry) throw new Error(`${one.name}: no such happening in ${JSON.stringify(one.log)}`);
  return entry.at;
}

describe('LeaderRole (LEASE_SECONDS=5, a real PostgreSQL)', () => {
  it('makes exactly one of two instances leader, sets the fence before starting the work', async () => {
    const a = instance('a');
    const b = instance('b');
    const watch = watchSingleLeader([a, b]);
    a.role.start();
    b.role.start();
    await waitFor(() => a.working() || b.working(), 3000, 'a leader');
    // several renewals later, still the same single leader
    await sleep(LEASE_SECONDS * 1000 + 500);
    const { samples, overlaps } = watch.stop();
    expect(samples).toBeGreaterThan(100);
    expect(overlaps).toBe(0);
    const [leader, standby] = a.role.role === 'leader' ? [a, b] : [b, a];
    expect(leader.role.role).toBe('leader');
    expect(standby.role.role).toBe('standby');
    expect(leader.role.leaderGeneration).toBe(1);
    expect(standby.role.leaderGeneration).toBeNull();
    expect(leader.log.slice(0, 3).map((entry) => entry.what)).toEqual(['fence', 'event', 'work-started']);
    expect(leader.log[0]).toMatchObject({ what: 'fence', generation: 1 });
    expect(events(standby)).toEqual([]);
    expect(await leader.lease.read()).toMatchObject({
      holder: leader.lease.holder,
      generation: 1,
      valid: true,
    });
  });

  it('a leader that can no longer renew stops its work before its lease expires; the standby takes over within LEASE_SECONDS', async () => {
    const a = instance('a');
    const b = instance('b');
    a.role.start();
    await waitFor(() => a.working(), 3000, 'a leading');
    b.role.start();
    await sleep(300);
    const watch = watchSingleLeader([a, b]);
    // a's database connection is gone (its pool refuses every query): no renewal succeeds any more
    const died = performance.now();
    await a.pool.end();
    await waitFor(() => b.working(), LEASE_SECONDS * 1000 + 2000, 'b taking over');
    const tookOver = firstAt(b, (entry) => entry.what === 'work-started');
    expect(tookOver - died).toBeLessThan(LEASE_SECONDS * 1000 + 200);
    expect(watch.stop().overlaps).toBe(0);
    expect(b.role.leaderGeneration).toBe(2);
    // a stepped down on its own deadline, and lifted its fence only once its work had stopped
    expect(events(a)).toContainEqual(
      expect.objectContaining({ type: 'stepped-down', reason: 'deadline-passed' }),
    );
    const aStopped = firstAt(a, (entry) => entry.what === 'work-stopped');
    const aUnfenced = firstAt(a, (entry) => entry.what === 'fence' && entry.generation === null);
    expect(aUnfenced).toBeGreaterThanOrEqual(aStopped);
    expect(aStopped).toBeLessThan(firstAt(b, (entry) => entry.what === 'event'));
    expect(a.role.role).toBe('standby');
  });

  it('hands over at once on a clean stop (release), without waiting for the expiry', async () => {
    const a = instance('a');
    const b = instance('b');
    a.role.start();
    await waitFor(() => a.working(), 3000, 'a leading');
    b.role.start();
    await sleep(200);
    const watch = watchSingleLeader([a, b]);
    const stopping = performance.now();
    await a.role.stop();
    expect(a.working()).toBe(false);
    expect(a.role.role).toBe('standby');
    await waitFor(() => b.working(), LEASE_SECONDS * 1000, 'b taking over');
    // a standby tries every third of the lease: well before the 5 s expiry
    expect(firstAt(b, (entry) => entry.what === 'work-started') - stopping).toBeLessThan(
      (LEASE_SECONDS * 1000) / 3 + 700,
    );
    expect(watch.stop().overlaps).toBe(0);
    expect(b.role.leaderGeneration).toBe(2);
    expect(events(a).at(-1)).toMatchObject({ type: 'stepped-down', reason: 'shutdown' });
  });

  it('steps down at once on a FencedError: work stopped, then the fence lifted, then it competes again', async () => {
    const a = instance('a', { stopDelayMs: 300 });
    a.role.start();
    await waitFor(() => a.working(), 3000, 'a leading');
    // errors other than FencedError, or of another generation, change nothing
    a.role.reportFenced(new Error('disk full'));
    a.role.reportFenced(new FencedError(7));
    expect(a.role.role).toBe('leader');
    const reported = performance.now();
    a.role.reportFenced(new FencedError(1));
    // at once, before any timer: no longer leader
    expect(a.role.isLeader()).toBe(false);
    expect(a.role.role).toBe('standby');
    await waitFor(
      () => a.log.some((entry) => entry.what === 'fence' && entry.generation === null),
      2000,
      'unfenced',
    );
    const stopped = firstAt(a, (entry) => entry.what === 'work-stopped');
    expect(stopped - reported).toBeGreaterThanOrEqual(290);
    expect(firstAt(a, (entry) => entry.what === 'fence' && entry.generation === null)).toBeGreaterThanOrEqual(
      stopped,
    );
    expect(events(a)).toContainEqual(expect.objectContaining({ type: 'stepping-down', reason: 'fenced' }));
    // nobody else holds the lease: it takes it again, under a new generation
    await waitFor(() => a.role.leaderGeneration === 2, 3000, 'a leading again');
    expect(
      a.log
        .filter((entry) => entry.what === 'fence')
        .map((entry) => (entry as { generation: number | null }).generation),
    ).toEqual([1, null, 2]);
  });

  it('a stop that fails keeps the fence on its generation and competes no more; the standby takes over at expiry', async () => {
    const a = instance('a', { failStop: () => true });
    const b = instance('b');
    a.role.start();
    await waitFor(() => a.working(), 3000, 'a leading');
    b.role.start();
    a.role.reportFenced(new FencedError(1));
    await waitFor(() => events(a).some((event) => event.type === 'stop-failed'), 2000, 'stop failed');
    expect(a.role.isLeader()).toBe(false);
    expect(a.role.role).toBe('standby');
    // the work may still run: its writes stay fenced under generation 1, never unfenced
    expect(
      a.log
        .filter((entry) => entry.what === 'fence')
        .map((entry) => (entry as { generation: number | null }).generation),
    ).toEqual([1]);
    // the lease was neither released nor renewed: b leads once it runs out, a never leads again
    await waitFor(() => b.working(), LEASE_SECONDS * 1000 + 2000, 'b taking over');
    expect(b.role.leaderGeneration).toBe(2);
    await a.role.stop();
    await sleep((LEASE_SECONDS * 1000) / 3 + 200);
    expect(a.role.isLeader()).toBe(false);
    expect(a.log.filter((entry) => entry.what === 'work-started')).toHaveLength(1);
    expect(events(a).some((event) => event.type === 'stepped-down')).toBe(false);
  });

  it('steps down when the leader work fails to start, and tries again', async () => {
    let failures = 1;
    const a = instance('a', { failStart: () => failures-- > 0 });
    a.role.start();
    await waitFor(() => a.working(), 5000, 'a leading after a failed start');
    expect(events(a)).toContainEqual(
      expect.objectContaining({ type: 'stepped-down', reason: 'start-failed', generation: 1 }),
    );
    expect(a.role.leaderGeneration).toBe(2);
  });

  it('is no longer leader the moment its monotonic deadline passes, before any timer runs', async () => {
    let offset = 0;
    const a = instance('a', { monotonicNow: () => performance.now() + offset });
    a.role.start();
    await waitFor(() => a.working(), 3000, 'a leading');
    expect(a.role.isLeader()).toBe(true);
    // as if the process had been frozen for a whole lease (CLOCK_MONOTONIC runs on while stopped)
    offset = LEASE_SECONDS * 1000;
    expect(a.role.isLeader()).toBe(false);
    expect(a.role.role).toBe('standby');
    expect(a.role.leaderGeneration).toBeNull();
  });

  it('survives a PostgreSQL restart: one leader after it, never two at once', async () => {
    const a = instance('a');
    const b = instance('b');
    a.role.start();
    await waitFor(() => a.working(), 3000, 'a leading');
    b.role.start();
    await sleep(300);
    const watch = watchSingleLeader([a, b]);
    await cluster.restart();
    // past a whole lease after the restart: whoever leads now renews
    await sleep(LEASE_SECONDS * 1000 + 1000);
    await waitFor(() => a.working() || b.working(), LEASE_SECONDS * 1000, 'a leader after the restart');
    await sleep(1000);
    const { samples, overlaps } = watch.stop();
    expect(samples).toBeGreaterThan(300);
    expect(overlaps).toBe(0);
    expect([a.role.role, b.role.role].sort()).toEqual(['leader', 'standby']);
    const leader = a.role.isLeader() ? a : b;
    const row = await leader.lease.read();
    expect(row).toMatchObject({
      holder: leader.lease.holder,
      generation: leader.role.leaderGeneration,
      valid: true,
    });
  });
});
