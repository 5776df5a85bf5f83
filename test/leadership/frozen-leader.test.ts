import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createLeaderLeaseTable, LeaderLease } from '../../src/leadership/leader-lease.js';
import { LeaderRole } from '../../src/leadership/leader-role.js';
import { PostgresCluster } from '../support/postgres-cluster.js';
import { createWritesTable, fencedWrite, newPool, SCHEMA, sleep, waitFor } from './lease-test-support.js';

const LEASE_SECONDS = 5;
const here = path.dirname(fileURLToPath(import.meta.url));

let cluster: PostgresCluster;
let admin: pg.Pool;
let child: ChildProcess | null = null;

beforeAll(async () => {
  cluster = await PostgresCluster.start();
  admin = newPool(cluster.url(), 2);
  await createLeaderLeaseTable(admin, SCHEMA);
  await createWritesTable(admin);
});

afterAll(async () => {
  if (child && child.exitCode === null) {
    child.kill('SIGCONT');
    child.kill('SIGKILL');
  }
  await admin?.end();
  await cluster?.destroy();
});

type Said = { type: string; [field: string]: unknown };

it('a leader frozen with SIGSTOP for 2×LEASE_SECONDS is replaced, and after SIGCONT knows it is not leader and writes nothing', async () => {
  const said: Said[] = [];
  child = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'lease-holder-process.ts')], {
    env: {
      ...process.env,
      LEASE_TEST_DATABASE_URL: cluster.url(),
      LEASE_TEST_HOLDER: 'frozen',
      LEASE_SECONDS: String(LEASE_SECONDS),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) =>
    said.push(JSON.parse(line) as Said),
  );
  await waitFor(() => said.some((one) => one.type === 'wrote'), 15_000, 'the child leading and writing');

  // the standby, in this process
  const pool = newPool(cluster.url(), 2);
  let standbyWorking = false;
  let standbyWrites = 0;
  let standbyWriter: NodeJS.Timeout | null = null;
  const lease = new LeaderLease({ pool, schema: SCHEMA, leaseSeconds: LEASE_SECONDS, holder: 'standby' });
  const role = new LeaderRole({
    lease,
    db: { setFence: () => undefined },
    startLeaderWork: async (generation) => {
      standbyWorking = true;
      standbyWriter = setInterval(() => {
        // (a write still under way when the test ends and closes the pool fails: not counted)
        if (role.isLeader()) {
          fencedWrite(pool, generation, 'standby').then(
            () => (standbyWrites += 1),
            () => undefined,
          );
        }
      }, 100);
    },
    stopLeaderWork: async () => {
      standbyWorking = false;
      if (standbyWriter) clearInterval(standbyWriter);
    },
  });
  try {
    role.start();
    await sleep(LEASE_SECONDS * 1000);
    expect(standbyWorking).toBe(false);

    const frozenAt = performance.now();
    child.kill('SIGSTOP');
    await waitFor(() => standbyWorking, LEASE_SECONDS * 1000 + 1500, 'the standby taking over');
    expect(performance.now() - frozenAt).toBeLessThan(LEASE_SECONDS * 1000 + 1000);
    expect(role.leaderGeneration).toBe(2);
    await sleep(Math.max(0, 2 * LEASE_SECONDS * 1000 - (performance.now() - frozenAt)));
    // everything the child said before the freeze has arrived by now
    const beforeWake = said.length;
    const [{ wokeAt }] = (await admin.query<{ wokeAt: Date }>('SELECT clock_timestamp() AS "wokeAt"'))
      .rows as [{ wokeAt: Date }];
    child.kill('SIGCONT');
    await waitFor(
      () => said.some((one) => one.type === 'in-flight-write'),
      5000,
      'the in-flight write settling',
    );
    await sleep(LEASE_SECONDS * 1000);

    const after = said.slice(beforeWake);
    // the first thing the woken process knows: it is not leader (its monotonic deadline passed while frozen)
    expect(after.find((one) => one.type === 'woke')).toMatchObject({ leader: false, role: 'standby' });
    expect(after.filter((one) => one.type === 'wrote')).toEqual([]);
    expect(after.find((one) => one.type === 'in-flight-write')).toMatchObject({
      committed: false,
      fenced: true,
    });
    expect(after).toContainEqual(expect.objectContaining({ type: 'work-stopped' }));
    expect(after).toContainEqual(expect.objectContaining({ type: 'fence', generation: null }));
    const stepDown = after.find(
      (one) => one.type === 'event' && (one.event as { type: string }).type === 'stepped-down',
    );
    expect(['deadline-passed', 'lease-lost']).toContain(
      (stepDown?.event as { reason?: string } | undefined)?.reason,
    );
    // the database agrees: nothing of the child's committed after it woke, and the standby leads on
    const { rows } = await admin.query<{ count: string }>(
      `SELECT count(*) FROM "${SCHEMA}".fenced_writes WHERE writer LIKE 'frozen%' AND written_at >= $1`,
      [wokeAt],
    );
    expect(Number(rows[0]?.count)).toBe(0);
    expect(role.role).toBe('leader');
    expect(standbyWrites).toBeGreaterThan(10);
    expect(await lease.read()).toMatchObject({ holder: 'standby', generation: 2, valid: true });
    // the woken child competes again, as a standby
    expect(after.some((one) => one.type === 'work-started')).toBe(false);
  } finally {
    await role.stop();
    await pool.end();
  }
});
