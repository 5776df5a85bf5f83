/**
 * kill -9 while the bot cuts a tall dashboard POSTed to the webhook into tiles: nothing was recorded
 * and Superset got no answer, so it retries the same POST; the restarted bot cuts it again, records it
 * once and every chat gets the tiles and the original exactly once. The killed run's half-made tiles go
 * with their orphan spool directory. A real bot process (the built CLI) and the fake Bot API.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalDirectory } from '../../src/directory/local/local-directory.js';
import { openDatabase } from '../../src/store/database.js';
import { ReportStore } from '../../src/store/report-store.js';
import { SqliteDatabase } from '../../src/store/sqlite-database.js';
import { webhookPath } from '../../src/webhook/webhook-token.js';
import { FakeTelegram } from '../fakes/telegram/fake-telegram.js';
import { eventually, freePort, removeDir, tempDataDir } from '../support/bot-harness.js';
import { BotProcess } from '../support/bot-process.js';
import { stripedPng } from '../support/dashboard-images.js';
import { subscribeReaders } from '../support/readers.js';
import { multipartRequest, post, reportPayload, startPost } from '../support/superset-webhook.js';

const SECRET = 'fault-webhook-tiling-secret-0123456789ab';
const MAILBOX = 'superset-tiles@bi.example.com';

let telegram: FakeTelegram;
let dataDir: string;

beforeAll(async () => {
  telegram = await FakeTelegram.start();
  dataDir = tempDataDir();
});

afterAll(async () => {
  await telegram?.stop();
  if (dataDir) removeDir(dataDir);
});

/** Tile files under the spool (complete or being written). */
function tileFilesInSpool(): string[] {
  const spool = path.join(dataDir, 'spool');
  if (!existsSync(spool)) return [];
  return readdirSync(spool).flatMap((post) => {
    const tiles = path.join(spool, post, 'tiles', '0');
    return existsSync(tiles) ? readdirSync(tiles).map((file) => path.join(tiles, file)) : [];
  });
}

describe('webhook: kill -9 while tiling a tall dashboard', () => {
  it('cuts it again on Superset’s retry and delivers it once to every chat', async () => {
    const port = await freePort();
    const db = openDatabase(dataDir);
    const directory = new LocalDirectory(new SqliteDatabase(db), { phoneRegion: 'RU', pollIntervalMs: 0 });
    await directory.addMailbox({ email: MAILBOX, webhookOnly: true });
    const chats = await subscribeReaders(telegram, directory, MAILBOX, 3, { firstChatId: 8_300_000 });
    db.close();
    const env = {
      DATA_DIR: dataDir,
      TELEGRAM_BOT_TOKEN: telegram.token,
      TELEGRAM_API_ROOT: telegram.apiRoot,
      WEBHOOK_PORT: String(port),
      WEBHOOK_HOST: '127.0.0.1',
      WEBHOOK_SECRET: SECRET,
    };
    const url = `http://127.0.0.1:${port}${webhookPath(SECRET, MAILBOX)}`;
    // 1600×24000: several tiles, each a new decode from the top, so the bot is inside the tiling for seconds
    const gaps: number[] = [];
    for (let top = 420; top < 24_000; top += 436) gaps.push(top);
    const png = await stripedPng(1600, 24_000, gaps);
    const request = () =>
      multipartRequest(reportPayload({ name: 'Tall board' }), [
        { filename: 'screenshot_0.png', content: png, type: 'image/png' },
      ]);

    const first = await BotProcess.start(env);
    const whole = request();
    const inFlight = startPost(url, whole, whole.body.length);
    await eventually(() => tileFilesInSpool().length > 0, 120_000, 'the first tile being written');
    await first.crash();
    // no answer reached Superset: it retries
    expect((await inFlight.answer).status).toBe(0);
    const orphans = readdirSync(path.join(dataDir, 'spool'));
    expect(telegram.calls.filter((call) => call.method.startsWith('send'))).toHaveLength(0);

    const bot = await BotProcess.start(env);
    try {
      const retry = await post(url, request());
      expect(retry.status).toBe(200);
      expect(JSON.parse(retry.body)).toMatchObject({ status: 'forward', deliveries: 3 });
      await eventually(
        () =>
          chats.every((chatId) => telegram.messagesIn(chatId).some((message) => message.type === 'document')),
        180_000,
        'the report in every chat',
      );
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const check = openDatabase(dataDir);
      const reports = await new ReportStore(new SqliteDatabase(check)).recent(5);
      check.close();
      expect(reports).toHaveLength(1);
      const tiles = reports[0]!.files[0]!.tiles!;
      expect(tiles.length).toBeGreaterThanOrEqual(5);
      for (const chatId of chats) {
        const types = telegram.messagesIn(chatId).map((message) => message.type);
        expect(types).toEqual([...Array(tiles.length).fill('photo'), 'document']);
      }
      // the killed run's spool directory (with its half-made tiles) is gone; the report's own is kept
      const spoolNow = readdirSync(path.join(dataDir, 'spool'));
      expect(spoolNow).toEqual([path.basename(reports[0]!.spoolDir!)]);
      expect(orphans.filter((dir) => spoolNow.includes(dir))).toEqual([]);
      expect(tiles.every((tile) => existsSync(tile.path))).toBe(true);
    } finally {
      await bot.stop();
    }
  }, 400_000);
});
