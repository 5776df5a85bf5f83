import type pg from 'pg';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLeaderLeaseTable, leaseTableName } from '../../src/leadership/leader-lease.js';
import { LeaseLeadership, SoleLeadership } from '../../src/leadership/leadership.js';
import type { AdminAlerts } from '../../src/observability/admin-alerts.js';
import { createLogger } from '../../src/observability/logger.js';
import { SecretScrubber } from '../../src/observability/secret-scrubber.js';
import { CapturedLogs } from '../support/bot-harness.js';
import { PostgresCluster } from '../support/postgres-cluster.js';
import { newPool, SCHEMA, waitFor } from './lease-test-support.js';

let cluster: PostgresCluster;
let admin: pg.Pool;

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

function leadership(holder: string) {
  const logs = new CapturedLogs();
  const scrubber = new SecretScrubber();
  scrubber.add(cluster.password);
  const raised: Array<{ key: string; text: string }> = [];
  const alerts: AdminAlerts = { raise: (key, text) => raised.push({ key, text }), clear: () => undefined };
  const fences: Array<number | null> = [];
  let working = false;
  const instance = new LeaseLeadership({
    url: cluster.url(),
    schema: SCHEMA,
    leaseSeconds: 5,
    holder,
    db: { setFence: (generation) => fences.push(generation) },
    logger: createLogger({ level: 'info', scrubber, destination: logs }),
    alerts,
    startLeaderWork: async () => {
      working = true;
    },
    stopLeaderWork: async () => {
      working = false;
    },
  });
  return { instance, logs, raised, fences, working: () => working };
}

async function gauge(registry: Registry, name: string): Promise<number | undefined> {
  const metric = await registry.getSingleMetric(name)?.get();
  return metric?.values[0]?.value;
}

describe('LeaseLeadership', () => {
  it('says its role to the metrics, and the new leader tells the admin chat of a failover', async () => {
    // the previous leader died: its lease ran out a whole lease after its last renewal
    await admin.query(
      `INSERT INTO ${leaseTableName(SCHEMA)} (name, holder, generation, expires_at, renewed_at)
       VALUES ('leader', 'dead-host:123:abcd', 4, now() - interval '1 second', now() - interval '6 seconds')`,
    );
    const a = leadership('a-host:1:0001');
    const registry = new Registry();
    a.instance.registerMetrics(registry);
    expect(a.instance.role).toBe('standby');
    expect(await gauge(registry, 'stb_leader')).toBe(0);
    expect(await gauge(registry, 'stb_leader_generation')).toBe(0);
    a.instance.start();
    try {
      await waitFor(() => a.working(), 3000, 'a leading');
      expect(a.instance.role).toBe('leader');
      expect(a.instance.isLeader()).toBe(true);
      expect(a.fences).toEqual([5]);
      expect(await gauge(registry, 'stb_leader')).toBe(1);
      expect(await gauge(registry, 'stb_leader_generation')).toBe(5);
      expect(a.raised).toHaveLength(1);
      expect(a.raised[0]?.key).toBe('leader-takeover:5');
      expect(a.raised[0]?.text).toContain('a-host:1:0001 took over as leader');
      expect(a.raised[0]?.text).toContain('dead-host:123:abcd');
      expect(a.logs.matching('leading now')).toHaveLength(1);
    } finally {
      await a.instance.stop();
    }
    expect(a.working()).toBe(false);
    expect(a.fences).toEqual([5, null]);
    expect(a.instance.role).toBe('standby');
    expect(await gauge(registry, 'stb_leader')).toBe(0);
    // a clean stop released the lease: the next one takes over without a failover alert
    const b = leadership('b-host:2:0002');
    b.instance.start();
    try {
      await waitFor(() => b.working(), 3000, 'b leading');
      expect(b.raised).toEqual([]);
    } finally {
      await b.instance.stop();
    }
    expect(a.logs.text()).not.toContain(cluster.password);
  });

  it('logs a database outage once at warn level and its end, and never the URL', async () => {
    const a = leadership('a-host:1:0001');
    a.instance.start();
    try {
      await waitFor(() => a.working(), 3000, 'a leading');
      await cluster.stop();
      await waitFor(() => !a.working(), 8000, 'a stepping down with the database gone');
      await new Promise((resolve) => setTimeout(resolve, 4000));
      await cluster.start();
      await waitFor(() => a.working(), 8000, 'a leading again');
    } finally {
      await a.instance.stop();
    }
    const warned = a.logs.lines.filter((line) => String(line.msg).startsWith('could not'));
    // the leader's failed renewals (each, a few until its deadline); the standby's tries of the same
    // outage, every 1.7 s, add none
    const byLeader = warned.filter((line) => line.role === 'leader');
    expect(byLeader.length).toBeGreaterThanOrEqual(1);
    expect(byLeader.length).toBeLessThanOrEqual(3);
    expect(warned.filter((line) => line.role === 'standby')).toEqual([]);
    expect(a.logs.matching('PostgreSQL answers the leader lease again').length).toBeGreaterThanOrEqual(1);
    expect(a.logs.matching('no longer leader')[0]).toMatchObject({ reason: 'deadline-passed' });
    expect(a.logs.text()).not.toContain(cluster.password);
  });
});

describe('SoleLeadership (SQLite)', () => {
  it('leads from start to stop', async () => {
    const calls: string[] = [];
    const sole = new SoleLeadership({
      startLeaderWork: async (generation) => {
        calls.push(`start ${generation}`);
      },
      stopLeaderWork: async () => {
        calls.push('stop');
      },
    });
    const registry = new Registry();
    sole.registerMetrics(registry);
    expect(sole.role).toBe('standby');
    sole.start();
    await sole.started;
    expect(sole.role).toBe('leader');
    expect(sole.isLeader()).toBe(true);
    expect(await gauge(registry, 'stb_leader')).toBe(1);
    await sole.stop();
    expect(sole.role).toBe('standby');
    expect(calls).toEqual(['start 0', 'stop']);
  });
});
