/**
 * SUPERSET_NOTICES=subscribers under faults, with the real bot process: Superset's "could not be
 * generated" notice arrives while Telegram refuses every message, the bot is killed (-9) meanwhile,
 * and after the restart each recipient gets the "not produced" text exactly once; a forged copy
 * from a sender not allowed reaches nobody.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalDirectory } from '../../src/directory/local/local-directory.js';
import { openDatabase } from '../../src/store/database.js';
import { SqliteDatabase } from '../../src/store/sqlite-database.js';
import { DovecotServer } from '../dovecot/dovecot.js';
import { FakeTelegram, faults } from '../fakes/telegram/fake-telegram.js';
import { eventually, removeDir, tempDataDir } from '../support/bot-harness.js';
import { BotProcess } from '../support/bot-process.js';
import { subscribeReaders } from '../support/readers.js';
import { errorHtml, noticeMail } from '../support/superset-notice-mail.js';

/** How long Telegram refuses messages before the kill (default 20 s; the issue asks for no length). */
const OUTAGE_SECONDS = Number(process.env.FAULT_NOTICE_OUTAGE_SECONDS ?? 20);

let dovecot: DovecotServer;
let telegram: FakeTelegram;
let dataDir: string;

beforeAll(async () => {
  dovecot = await DovecotServer.start({ users: 1 });
  telegram = await FakeTelegram.start();
  dataDir = tempDataDir();
});

afterAll(async () => {
  await telegram?.stop();
  await dovecot?.stop();
  if (dataDir) removeDir(dataDir);
});

describe('Superset notices for subscribers under faults', () => {
  it('tells each recipient once across a Telegram outage and a kill -9; a forged notice reaches nobody', async () => {
    const db = openDatabase(dataDir);
    const directory = new LocalDirectory(new SqliteDatabase(db), { phoneRegion: 'RU', pollIntervalMs: 0 });
    const email = dovecot.address('user1');
    await directory.addMailbox({ ...dovecot.mailbox('user1'), allowFrom: ['@bi.example.com'] });
    const chats = await subscribeReaders(telegram, directory, email, 3, { firstChatId: 8_300_000 });
    db.close();
    const env = {
      DATA_DIR: dataDir,
      TELEGRAM_BOT_TOKEN: telegram.token,
      TELEGRAM_API_ROOT: telegram.apiRoot,
      SUPERSET_NOTICES: 'subscribers',
    };
    const notices = (chatId: number) =>
      telegram.messagesIn(chatId).filter((message) => message.text?.includes('сегодня не сформирован'));

    telegram.failRatio(1, [faults.badGateway(), faults.dropConnection()], 7, { method: 'sendMessage' });
    let bot = await BotProcess.start(env);
    await bot.waitForLine('connected to the mailbox');
    await dovecot.append('user1', noticeMail('[Report]  Weekly sales', errorHtml(), 'mallory@evil.example'));
    await dovecot.append('user1', noticeMail('[Report]  Weekly sales', errorHtml()));
    await bot.waitForLine('Superset notice recorded', 15_000);
    await new Promise((resolve) => setTimeout(resolve, OUTAGE_SECONDS * 1000));
    expect(chats.flatMap(notices)).toEqual([]);
    await bot.crash();

    telegram.clearFaults();
    bot = await BotProcess.start(env);
    try {
      await eventually(
        () => chats.every((chatId) => notices(chatId).length >= 1),
        30_000,
        'every reader told',
      );
      // let anything that would repeat go out
      await new Promise((resolve) => setTimeout(resolve, 3000));
      for (const chatId of chats) {
        expect(notices(chatId).map((message) => message.text)).toEqual([
          '⚠️ Отчёт «Weekly sales» сегодня не сформирован.',
        ]);
      }
    } finally {
      await bot.stop();
    }
  });
});
