/**
 * Superset's webhook against a real bot process (the built CLI) and the fake Bot API: a webhook-only
 * mailbox added with the CLI, its URL from `webhook url`, and the bot killed -9 in the middle of a POST
 * and right after answering one. Superset then retries the same POST (it retries on 5xx, 429, timeouts
 * and connection errors); each report must reach each subscriber exactly once.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalDirectory } from '../../src/directory/local/local-directory.js';
import { openDatabase } from '../../src/store/database.js';
import { SqliteDatabase } from '../../src/store/sqlite-database.js';
import { FakeTelegram } from '../fakes/telegram/fake-telegram.js';
import { makePdf } from '../fixtures/sample-files.js';
import { eventually, freePort, removeDir, tempDataDir } from '../support/bot-harness.js';
import { BotProcess, runCli } from '../support/bot-process.js';
import { subscribeReaders } from '../support/readers.js';
import { multipartRequest, post, reportPayload, startPost } from '../support/superset-webhook.js';

const SECRET = 'fault-webhook-secret-0123456789abcdefgh';
const MAILBOX = 'superset@bi.example.com';
const CHATS = 5;

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

/** Messages per chat whose caption starts with `subject`. */
function received(chats: number[], subject: string): number[] {
  return chats.map(
    (chatId) => telegram.messagesIn(chatId).filter((message) => message.caption?.startsWith(subject)).length,
  );
}

describe('webhook: kill -9', () => {
  it('delivers exactly once when the bot dies during a POST and after answering one', async () => {
    const port = await freePort();
    const env = {
      DATA_DIR: dataDir,
      TELEGRAM_BOT_TOKEN: telegram.token,
      TELEGRAM_API_ROOT: telegram.apiRoot,
      WEBHOOK_PORT: String(port),
      WEBHOOK_HOST: '127.0.0.1',
      WEBHOOK_SECRET: SECRET,
      WEBHOOK_PUBLIC_URL: `http://127.0.0.1:${port}`,
    };
    const added = await runCli(['mailbox', 'add', MAILBOX, '--webhook-only'], env);
    expect(added.code, added.stderr).toBe(0);
    const printed = await runCli(['webhook', 'url', MAILBOX], env);
    const url = printed.stdout.trim().split('\n').at(-1)!;
    expect(url).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${port}/webhook/[A-Za-z0-9_-]{20,}$`));
    const db = openDatabase(dataDir);
    const chats = await subscribeReaders(
      telegram,
      new LocalDirectory(new SqliteDatabase(db), { phoneRegion: 'RU', pollIntervalMs: 0 }),
      MAILBOX,
      CHATS,
      {
        firstChatId: 9_100_000,
      },
    );
    db.close();

    // 1. killed while the body streams in: nothing recorded, the half-written spool is swept at start
    let bot = await BotProcess.start(env);
    const first = multipartRequest(reportPayload({ name: 'Killed mid-POST' }), [
      { filename: 'report.pdf', content: makePdf({ fillerBytes: 512 * 1024 }), type: 'application/pdf' },
    ]);
    const interrupted = startPost(url, first, Math.floor(first.body.length / 2));
    const spool = path.join(dataDir, 'spool');
    await eventually(
      () => existsSync(spool) && readdirSync(spool).length > 0,
      10_000,
      'the POST reaching the spool',
    );
    await bot.crash();
    const cut = await interrupted.answer;
    expect(cut.status).toBe(0);
    bot = await BotProcess.start(env);
    expect(existsSync(spool) ? readdirSync(spool) : []).toEqual([]);
    // Superset's retry: the same request again
    const retry = await post(
      url,
      multipartRequest(reportPayload({ name: 'Killed mid-POST' }), [
        { filename: 'report.pdf', content: makePdf({ fillerBytes: 512 * 1024 }), type: 'application/pdf' },
      ]),
    );
    expect(retry.status).toBe(200);
    await eventually(
      () => received(chats, 'Killed mid-POST').every((count) => count >= 1),
      20_000,
      'delivery',
    );

    // 2. killed right after the 200, before any send (Telegram answers 502 meanwhile): Superset timed
    // out waiting and retries; the retry is recognised, and the report goes once after the restart
    telegram.failNext(
      Number.POSITIVE_INFINITY,
      { kind: 'gatewayPage', status: 502 },
      { method: 'sendDocument' },
    );
    const second = () =>
      multipartRequest(reportPayload({ name: 'Killed after answering' }), [
        { filename: 'report.pdf', content: makePdf({ pages: ['after'] }), type: 'application/pdf' },
      ]);
    const answered = await post(url, second());
    expect(answered.status).toBe(200);
    await bot.crash();
    bot = await BotProcess.start(env);
    const again = await post(url, second());
    expect(again.status).toBe(200);
    expect(JSON.parse(again.body)).toMatchObject({ status: 'duplicate' });
    telegram.clearFaults();
    await eventually(
      () => received(chats, 'Killed after answering').every((count) => count >= 1),
      20_000,
      'delivery after the restart',
    );
    // settle: anything sent twice would show by now
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await bot.stop();
    // one PDF each: one message per chat and report
    expect(received(chats, 'Killed mid-POST')).toEqual(chats.map(() => 1));
    expect(received(chats, 'Killed after answering')).toEqual(chats.map(() => 1));
  });
});
