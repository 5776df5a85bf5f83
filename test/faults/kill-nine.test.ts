/**
 * 20 kill -9s at random moments while reports fan out to 50 chats, each followed by a restart on the
 * same DATA_DIR. Nothing may be lost, and each kill may repeat at most one message.
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
import { pngReportMail } from '../support/simple-mail.js';
import { seededRandom } from './seeded-random.js';

const CHATS = 50;
const KILLS = 20;
const SEED = Number(process.env.FAULT_SEED ?? 20261124);

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

describe('kill -9 during fan-out', () => {
  it(`loses nothing and repeats at most one message per kill over ${KILLS} kills`, async () => {
    const db = openDatabase(dataDir);
    const directory = new LocalDirectory(new SqliteDatabase(db), { phoneRegion: 'RU', pollIntervalMs: 0 });
    const email = dovecot.address('user1');
    await directory.addMailbox(dovecot.mailbox('user1'));
    const chats = await subscribeReaders(telegram, directory, email, CHATS, { firstChatId: 8_000_000 });
    db.close();
    const env = {
      DATA_DIR: dataDir,
      TELEGRAM_BOT_TOKEN: telegram.token,
      TELEGRAM_API_ROOT: telegram.apiRoot,
    };
    const random = seededRandom(SEED);
    const subjects: string[] = [];
    const requestsPerReport = 2; // an album of three screenshots, then the PDF

    /** Bot API requests each chat received per report (captioned messages: album head, document). */
    const receivedPerReport = () =>
      chats.map((chatId) => {
        const counts = new Map<string, number>();
        for (const message of telegram.messagesIn(chatId)) {
          const subject = subjects.find((entry) => message.caption?.startsWith(entry));
          if (subject) counts.set(subject, (counts.get(subject) ?? 0) + 1);
        }
        return counts;
      });

    const moments: number[] = [];
    for (let kill = 0; kill < KILLS; kill++) {
      const bot = await BotProcess.start(env);
      if (kill % 4 === 0) {
        await bot.waitForLine('connected to the mailbox');
        const mail = pngReportMail({
          withPdf: true,
          screenshots: [
            { width: 1200, height: 800 },
            { width: 1200, height: 900 },
            { width: 1200, height: 700 },
          ],
        });
        subjects.push(mail.subject);
        await dovecot.append('user1', mail.raw);
      }
      const moment = Math.round(200 + random() * 2800);
      moments.push(moment);
      await new Promise((resolve) => setTimeout(resolve, moment));
      await bot.crash();
    }

    const bot = await BotProcess.start(env);
    try {
      await eventually(
        () =>
          receivedPerReport().every((counts) =>
            subjects.every((subject) => (counts.get(subject) ?? 0) >= requestsPerReport),
          ),
        120_000,
        'every report in every chat',
      );
      // let anything still in flight land before counting
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const perReport = receivedPerReport();
      const duplicates = perReport.reduce(
        (sum, counts) =>
          sum +
          subjects.reduce(
            (total, subject) => total + Math.max(0, (counts.get(subject) ?? 0) - requestsPerReport),
            0,
          ),
        0,
      );
      const lost = perReport.reduce(
        (sum, counts) =>
          sum + subjects.filter((subject) => (counts.get(subject) ?? 0) < requestsPerReport).length,
        0,
      );
      console.log(
        `kill -9 ×${KILLS} (seed ${SEED}, moments ${moments.join(',')} ms): ${subjects.length} reports × ${CHATS} chats, ` +
          `lost ${lost}, duplicate messages ${duplicates}`,
      );
      expect(lost).toBe(0);
      expect(duplicates).toBeLessThanOrEqual(KILLS);
      expect(await bot.stop()).toBe(0);
    } finally {
      if (bot.child.exitCode === null) await bot.crash();
    }
  });
});
