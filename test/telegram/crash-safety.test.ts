/**
 * The bot as a real process: killed with -9 in the middle of a fan-out, or stopped with SIGTERM, and
 * started again on the same DATA_DIR. Every recipient ends up with the report; a kill repeats at most
 * one message, a graceful stop none.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalDirectory } from '../../src/directory/local/local-directory.js';
import { openDatabase } from '../../src/store/database.js';
import { SqliteDatabase } from '../../src/store/sqlite-database.js';
import { DovecotServer } from '../dovecot/dovecot.js';
import { FakeTelegram } from '../fakes/telegram/fake-telegram.js';
import { eventually, removeDir, tempDataDir } from '../support/bot-harness.js';
import { BotProcess } from '../support/bot-process.js';
import { subscribeReaders } from '../support/readers.js';
import { reportMail } from '../support/simple-mail.js';

let dovecot: DovecotServer;
let telegram: FakeTelegram;
let nextChat = 7_000_000;

beforeAll(async () => {
  dovecot = await DovecotServer.start({ users: 3 });
  telegram = await FakeTelegram.start();
});

afterAll(async () => {
  await telegram?.stop();
  await dovecot?.stop();
});

/** A DATA_DIR with one mailbox and `readers` subscribed users, as an admin would set it up. */
async function prepare(
  user: string,
  readers: number,
): Promise<{ dataDir: string; chats: number[]; env: Record<string, string> }> {
  const dataDir = tempDataDir();
  const db = openDatabase(dataDir);
  const directory = new LocalDirectory(new SqliteDatabase(db), { phoneRegion: 'RU', pollIntervalMs: 0 });
  const email = dovecot.address(user);
  await directory.addMailbox(dovecot.mailbox(user));
  const chats = await subscribeReaders(telegram, directory, email, readers, { firstChatId: nextChat });
  nextChat += readers;
  db.close();
  const env = {
    DATA_DIR: dataDir,
    TELEGRAM_BOT_TOKEN: telegram.token,
    TELEGRAM_API_ROOT: telegram.apiRoot,
  };
  return { dataDir, chats, env };
}

const received = (chats: number[]) => chats.map((chatId) => telegram.messagesIn(chatId).length);

describe('crash safety', () => {
  it('after kill -9 in the middle of a fan-out, a restart delivers the rest with at most one duplicate', async () => {
    const { dataDir, chats, env } = await prepare('user1', 50);
    let bot = await BotProcess.start(env);
    try {
      await bot.waitForLine('connected to the mailbox');
      await dovecot.append('user1', reportMail().raw);
      await eventually(
        () => received(chats).filter((count) => count > 0).length >= 12,
        20_000,
        'part of the fan-out',
      );
      await bot.crash();
      const before = received(chats).filter((count) => count > 0).length;
      expect(before).toBeLessThan(chats.length);

      bot = await BotProcess.start(env);
      await eventually(() => received(chats).every((count) => count >= 1), 30_000, 'the rest of the fan-out');
      const duplicates = received(chats).reduce((sum, count) => sum + (count - 1), 0);
      console.log(`kill -9 after ${before}/50 chats: duplicates ${duplicates}`);
      expect(duplicates).toBeLessThanOrEqual(1);
      expect(await bot.stop()).toBe(0);
    } finally {
      if (bot.child.exitCode === null) await bot.crash();
      removeDir(dataDir);
    }
  });

  it('with parallel sends (group commit), a kill -9 repeats at most one message per chat', async () => {
    const { dataDir, chats, env } = await prepare('user3', 200);
    // records are committed in groups: several chats may have an answered send not yet recorded
    const parallelEnv = { ...env, TELEGRAM_PARALLEL_SENDS: '16', TELEGRAM_MESSAGES_PER_SECOND: '1000' };
    let bot = await BotProcess.start(parallelEnv);
    try {
      await bot.waitForLine('connected to the mailbox');
      await dovecot.append('user3', reportMail().raw);
      await eventually(
        () => received(chats).filter((count) => count > 0).length >= 60,
        20_000,
        'part of the fan-out',
      );
      await bot.crash();
      const before = received(chats).filter((count) => count > 0).length;
      expect(before).toBeLessThan(chats.length);

      bot = await BotProcess.start(parallelEnv);
      await eventually(() => received(chats).every((count) => count >= 1), 30_000, 'the rest of the fan-out');
      const duplicates = received(chats).reduce((sum, count) => sum + (count - 1), 0);
      console.log(`kill -9 after ${before}/200 chats with 16 parallel sends: duplicates ${duplicates}`);
      expect(received(chats).every((count) => count <= 2)).toBe(true);
      expect(await bot.stop()).toBe(0);
    } finally {
      if (bot.child.exitCode === null) await bot.crash();
      removeDir(dataDir);
    }
  });

  it('stops gracefully on SIGTERM during a fan-out and finishes it after a restart, without duplicates', async () => {
    const { dataDir, chats, env } = await prepare('user2', 40);
    let bot = await BotProcess.start(env);
    try {
      await bot.waitForLine('connected to the mailbox');
      await dovecot.append('user2', reportMail().raw);
      await eventually(
        () => received(chats).filter((count) => count > 0).length >= 8,
        20_000,
        'part of the fan-out',
      );
      expect(await bot.stop('SIGTERM')).toBe(0);
      expect(bot.lines.some((line) => line.includes('superset-telegram-bot stopped'))).toBe(true);
      expect(received(chats).filter((count) => count > 0).length).toBeLessThan(chats.length);

      bot = await BotProcess.start(env);
      await eventually(() => received(chats).every((count) => count >= 1), 30_000, 'the rest of the fan-out');
      expect(received(chats).every((count) => count === 1)).toBe(true);
      expect(await bot.stop('SIGINT')).toBe(0);
    } finally {
      if (bot.child.exitCode === null) await bot.crash();
      removeDir(dataDir);
    }
  });
});
