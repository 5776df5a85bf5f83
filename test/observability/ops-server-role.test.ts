/** /healthz and /readyz say the instance's role (leader or standby) as a top-level field. */
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { OpsServer } from '../../src/observability/ops-server.js';

describe('OpsServer role', () => {
  it('shows the role in /healthz and /readyz; a ready standby answers 200', async () => {
    let role = 'standby';
    const server = new OpsServer({
      host: '127.0.0.1',
      port: 0,
      registry: new Registry(),
      readiness: () => ({ ready: true, outbox: { pending: 0 } }),
      role: () => role,
    });
    const port = await server.start();
    try {
      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({ status: 'ok', role: 'standby' });
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({ role: 'standby', ready: true, outbox: { pending: 0 } });
      role = 'leader';
      expect(await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()).toEqual({
        status: 'ok',
        role: 'leader',
      });
    } finally {
      await server.stop();
    }
  });

  it('answers as before without a role (a single bot on SQLite that passes none)', async () => {
    const server = new OpsServer({
      host: '127.0.0.1',
      port: 0,
      registry: new Registry(),
      readiness: () => ({ ready: false }),
    });
    const port = await server.start();
    try {
      expect(await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()).toEqual({ status: 'ok' });
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toEqual({ ready: false });
    } finally {
      await server.stop();
    }
  });
});
