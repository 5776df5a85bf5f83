/** `reports` shows each recipient's state; `resend` queues a recorded report again for the running bot. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalDirectory } from '../../src/directory/local/local-directory.js';
import { DovecotServer } from '../dovecot/dovecot.js';
import { FakeTelegram } from '../fakes/telegram/fake-telegram.js';
import { eventually, removeDir, startBot, tempDataDir } from '../support/bot-harness.js';
import { runCli } from '../support/bot-process.js';
import { reportMail } from '../support/simple-mail.js';

let dovecot: DovecotServer;
let telegram: FakeTelegram;
const dataDir = tempDataDir();

beforeAll(async () => {
  dovecot = await DovecotServer.start({ users: 1 });
  telegram = await FakeTelegram.start();
});

afterAll(async () => {
  await telegram?.stop();
  await dovecot?.stop();
  removeDir(dataDir);
});

function cli(...args: string[]) {
  return runCli(args, { DATA_DIR: dataDir });
}

describe('reports and resend', () => {
  it('lists recent reports with per-recipient state and sends one again on request', async () => {
    const env = { TELEGRAM_BOT_TOKEN: telegram.token, TELEGRAM_API_ROOT: telegram.apiRoot };
    let bot = await startBot({ dataDir, env });
    const directory = bot.app.directory as LocalDirectory;
    const email = dovecot.address('user1');
    directory.addMailbox(dovecot.mailbox('user1'));
    telegram.addPrivateChat({ id: 9_300_001, first_name: 'Reader' });
    telegram.addPrivateChat({ id: 9_300_002, first_name: 'Gone' });
    telegram.blockBot(9_300_002);
    directory.addUser({ name: 'Reader', phone: '+79993000001', mailboxes: [email], telegramId: 9_300_001 });
    directory.addUser({ name: 'Gone', phone: '+79993000002', mailboxes: [email], telegramId: 9_300_002 });
    await eventually(() => bot.app.listeners.listener(email)?.status().lastSyncAt, 10_000);
    const mail = reportMail();
    await dovecot.append('user1', mail.raw);
    await telegram.waitForMessages(9_300_001, 1, 15_000);
    await eventually(() => bot.app.dispatcher!.depth === 0, 10_000);
    // subscribed after the report arrived: a resend reaches them, the chat that blocked the bot not
    telegram.addPrivateChat({ id: 9_300_003, first_name: 'Newcomer' });
    directory.addUser({ name: 'Newcomer', phone: '+79993000003', mailboxes: [email], telegramId: 9_300_003 });
    await bot.stop();

    const listed = JSON.parse((await cli('reports', '--json')).stdout) as Array<{
      id: number;
      subject: string;
      status: string;
      files: unknown[];
      deliveries: Array<{ chatId: number; state: string; lastError: string | null }>;
    }>;
    expect(listed).toHaveLength(1);
    const [report] = listed;
    expect(report).toMatchObject({ subject: mail.subject, status: 'forward' });
    expect(report!.files).toHaveLength(1);
    expect(report!.deliveries).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ chatId: 9_300_001, state: 'sent' }),
        expect.objectContaining({
          chatId: 9_300_002,
          state: 'cancelled',
          lastError: expect.stringContaining('blocked'),
        }),
      ]),
    );
    const text = (await cli('reports', '--limit', '5')).stdout;
    expect(text).toContain(`#${report!.id}`);
    expect(text).toContain(mail.subject);
    expect(text).toMatch(/sent\s+user Reader \(9300001\)/);

    expect((await cli('resend', '999')).stderr).toContain('no report #999');
    const resent = await cli('resend', String(report!.id), '--chat', '9300001');
    expect(resent.stdout).toContain(`report #${report!.id} queued again for 1 chat(s)`);
    const toEveryone = await cli('resend', String(report!.id));
    expect(toEveryone.stdout).toContain(`report #${report!.id} queued again for 2 chat(s)`);

    bot = await startBot({ dataDir, env });
    try {
      const messages = await telegram.waitForMessages(9_300_001, 3, 15_000);
      expect(messages[1]!.caption).toBe(messages[0]!.caption);
      const newcomer = await telegram.waitForMessages(9_300_003, 1, 15_000);
      expect(newcomer[0]!.caption).toBe(messages[0]!.caption);
      await eventually(() => bot.app.dispatcher!.depth === 0, 10_000);
      expect(telegram.messagesIn(9_300_002)).toEqual([]);
      expect(
        (await bot.app.outbox.forReport(report!.id)).filter((delivery) => delivery.chatId === 9_300_002),
      ).toHaveLength(1);
    } finally {
      await bot.stop();
    }
  });
});
