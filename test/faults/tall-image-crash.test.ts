/**
 * kill -9 while the bot cuts a tall dashboard into tiles (issue 13 part 1): the mail was not recorded
 * yet, so after the restart it is read again and cut again; every chat gets the tiles and the original
 * exactly once, and the half-made tiles of the killed run are removed with their orphan spool directory.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalDirectory } from '../../src/directory/local/local-directory.js';
import { openDatabase } from '../../src/store/database.js';
import { ReportStore } from '../../src/store/report-store.js';
import { SqliteDatabase } from '../../src/store/sqlite-database.js';
import { DovecotServer } from '../dovecot/dovecot.js';
import { FakeTelegram } from '../fakes/telegram/fake-telegram.js';
import { eventually, removeDir, tempDataDir } from '../support/bot-harness.js';
import { BotProcess } from '../support/bot-process.js';
import { stripedPng } from '../support/dashboard-images.js';
import { subscribeReaders } from '../support/readers.js';
import { pngReportMail } from '../support/simple-mail.js';

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

/** Tile directories under the spool that hold at least one file (complete or being written). */
function tileFilesInSpool(): string[] {
  const spool = path.join(dataDir, 'spool');
  if (!existsSync(spool)) return [];
  return readdirSync(spool).flatMap((mail) => {
    const tiles = path.join(spool, mail, 'tiles', '0');
    return existsSync(tiles) ? readdirSync(tiles).map((file) => path.join(tiles, file)) : [];
  });
}

describe('kill -9 while tiling a tall dashboard', () => {
  it('cuts it again after the restart and delivers it once to every chat', async () => {
    const db = openDatabase(dataDir);
    const directory = new LocalDirectory(new SqliteDatabase(db), { phoneRegion: 'RU', pollIntervalMs: 0 });
    const email = dovecot.address('user1');
    await directory.addMailbox(dovecot.mailbox('user1'));
    const chats = await subscribeReaders(telegram, directory, email, 3, { firstChatId: 8_100_000 });
    db.close();
    const env = {
      DATA_DIR: dataDir,
      TELEGRAM_BOT_TOKEN: telegram.token,
      TELEGRAM_API_ROOT: telegram.apiRoot,
    };

    // 1600×24000: 5 tiles or so, each a new decode from the top, so the bot is inside the tiling for seconds
    const gaps: number[] = [];
    for (let top = 420; top < 24_000; top += 436) gaps.push(top);
    const mail = pngReportMail({ images: [await stripedPng(1600, 24_000, gaps)] });

    const first = await BotProcess.start(env);
    await first.waitForLine('connected to the mailbox', 30_000);
    await dovecot.append('user1', mail.raw);
    await eventually(() => tileFilesInSpool().length > 0, 120_000, 'the first tile being written');
    await first.crash();
    const orphans = readdirSync(path.join(dataDir, 'spool'));
    expect(telegram.calls.filter((call) => call.method.startsWith('send'))).toHaveLength(0);

    const bot = await BotProcess.start(env);
    try {
      await eventually(
        () =>
          chats.every((chatId) => telegram.messagesIn(chatId).some((message) => message.type === 'document')),
        180_000,
        'the report in every chat',
      );
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const check = openDatabase(dataDir);
      const [report] = await new ReportStore(new SqliteDatabase(check)).recent(5);
      const reports = (await new ReportStore(new SqliteDatabase(check)).recent(5)).length;
      check.close();
      expect(reports).toBe(1);
      const tiles = report!.files[0]!.tiles!;
      expect(tiles.length).toBeGreaterThanOrEqual(5);
      for (const chatId of chats) {
        const types = telegram.messagesIn(chatId).map((message) => message.type);
        expect(types).toEqual([...Array(tiles.length).fill('photo'), 'document']);
      }
      // the killed run's spool directory (with its half-made tiles) is gone; the report's own is kept
      const spoolNow = readdirSync(path.join(dataDir, 'spool'));
      expect(spoolNow).toEqual([path.basename(report!.spoolDir!)]);
      expect(orphans.filter((dir) => spoolNow.includes(dir))).toEqual([]);
      expect(tiles.every((tile) => existsSync(tile.path))).toBe(true);
      expect(await bot.stop()).toBe(0);
    } finally {
      await bot.stop();
    }
  });
});
