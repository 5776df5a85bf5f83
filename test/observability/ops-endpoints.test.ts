/** /healthz, /readyz and /metrics of a running bot. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalDirectory } from '../../src/directory/local/local-directory.js';
import { DovecotServer } from '../dovecot/dovecot.js';
import { FakeTelegram } from '../fakes/telegram/fake-telegram.js';
import { eventually, freePort, removeDir, startBot } from '../support/bot-harness.js';
import { reportMail } from '../support/simple-mail.js';

let dovecot: DovecotServer;
let telegram: FakeTelegram;

beforeAll(async () => {
  dovecot = await DovecotServer.start({ users: 2 });
  telegram = await FakeTelegram.start();
});

afterAll(async () => {
  await telegram?.stop();
  await dovecot?.stop();
});

describe('operations endpoints', () => {
  it('report health, readiness per mailbox, and metrics after a delivery', async () => {
    const port = await freePort();
    const bot = await startBot({
      env: {
        HTTP_PORT: String(port),
        TELEGRAM_BOT_TOKEN: telegram.token,
        TELEGRAM_API_ROOT: telegram.apiRoot,
      },
    });
    try {
      const base = `http://127.0.0.1:${port}`;
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      const directory = bot.app.directory as LocalDirectory;
      const email = dovecot.address('user1');
      await directory.addMailbox(dovecot.mailbox('user1'));
      await directory.addMailbox({
        email: 'broken@example.com',
        host: dovecot.host,
        port: dovecot.port,
        tls: 'none',
        login: 'user2',
        password: 'nope-nope',
      });
      telegram.addPrivateChat({ id: 9_100_001, first_name: 'Reader' });
      await directory.addUser({
        name: 'Reader',
        phone: '+79990000001',
        mailboxes: [email],
        telegramId: 9_100_001,
      });
      const ready = await eventually(async () => {
        const response = await fetch(`${base}/readyz`);
        const body = (await response.json()) as {
          ready: boolean;
          mailboxes: Array<{ mailbox: string; state: string; failures: number }>;
        };
        return (
          response.status === 200 &&
          body.mailboxes.some((entry) => entry.mailbox === email && entry.state === 'connected') &&
          body
        );
      }, 15_000);
      expect(ready.mailboxes.find((entry) => entry.mailbox === 'broken@example.com')?.state).toBe('retrying');

      await dovecot.append('user1', reportMail().raw);
      await telegram.waitForMessages(9_100_001, 1, 15_000);
      const metrics = await eventually(async () => {
        const text = await (await fetch(`${base}/metrics`)).text();
        return text.includes('stb_deliveries_total{result="sent"} 1') && text;
      }, 5000);
      expect(metrics).toContain(`stb_reports_total{mailbox="${email}",result="forward"} 1`);
      expect(metrics).toContain(`stb_mailbox_connected{mailbox="${email}"} 1`);
      expect(metrics).toContain('stb_mailbox_connected{mailbox="broken@example.com"} 0');
      expect(metrics).toMatch(/stb_delivery_latency_seconds_count 1/);
      expect(metrics).toContain('stb_outbox_depth 0');
      expect(metrics).toContain('process_resident_memory_bytes');
      expect(metrics).not.toContain('nope-nope');
    } finally {
      await bot.stop();
      removeDir(bot.dataDir);
    }
  });

  it('is not ready while Telegram cannot be reached', async () => {
    const port = await freePort();
    const closed = await freePort();
    const bot = await startBot({
      env: {
        HTTP_PORT: String(port),
        TELEGRAM_BOT_TOKEN: telegram.token,
        TELEGRAM_API_ROOT: `http://127.0.0.1:${closed}`,
      },
    });
    try {
      const response = await fetch(`http://127.0.0.1:${port}/readyz`);
      expect(response.status).toBe(503);
      expect(((await response.json()) as { telegram: { polling: boolean } }).telegram.polling).toBe(false);
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    } finally {
      await bot.stop();
      removeDir(bot.dataDir);
    }
  });
});
