import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresCluster } from './postgres-cluster.js';

describe('PostgresCluster', () => {
  let cluster: PostgresCluster;
  beforeAll(async () => {
    cluster = await PostgresCluster.start();
  });
  afterAll(async () => {
    await cluster?.destroy();
  });
  it('creates a database, stops and restarts', async () => {
    const url = await cluster.createDatabase();
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    expect((await client.query('select 1 as x')).rows[0].x).toBe(1);
    await client.end();
    await cluster.restart();
    expect((await cluster.query('select 2 as y'))[0]?.y).toBe(2);
    const bad = new pg.Client({ connectionString: url.replace(cluster.password, 'wrong') });
    await expect(bad.connect()).rejects.toThrow(/password/);
  });
});
