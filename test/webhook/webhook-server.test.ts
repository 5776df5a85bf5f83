/**
 * Superset's webhook end to end, in process: requests shaped exactly as Superset sends them reach the
 * bot's receiver, are recorded through the same intake as mail, and the subscribers' chats of the fake
 * Bot API receive them through the real grammY client. Also every way a POST can be wrong.
 */
import { existsSync, readdirSync } from 'node:fs';
import { connect } from 'node:net';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { LocalDirectory } from '../../src/directory/local/local-directory.js';
import { DATABASE_FILE } from '../../src/store/database.js';
import { webhookPath } from '../../src/webhook/webhook-token.js';
import { FakeTelegram } from '../fakes/telegram/fake-telegram.js';
import { makeCsv, makePdf, makePng } from '../fixtures/sample-files.js';
import { eventually, freePort, type RunningBot, removeDir, startBot } from '../support/bot-harness.js';
import { subscribeReaders } from '../support/readers.js';
import {
  DASHBOARD_URL,
  jsonRequest,
  multipartRequest,
  post,
  reportPayload,
  startPost,
} from '../support/superset-webhook.js';

const SECRET = 'webhook-secret-for-tests-0123456789abcdef';
const MAILBOX = 'reports@bi.example.com';

let telegram: FakeTelegram;
let bot: RunningBot | null = null;
let nextChat = 7_100_000;

beforeAll(async () => {
  telegram = await FakeTelegram.start();
});

afterAll(async () => {
  await telegram?.stop();
});

afterEach(async () => {
  if (bot) {
    await bot.stop();
    removeDir(bot.dataDir);
    bot = null;
  }
});

/** A bot with the webhook on and one webhook-only mailbox with `readers` subscribers. */
async function world(
  options: { env?: Record<string, string>; readers?: number; idleTimeoutMs?: number } = {},
) {
  const port = await freePort();
  bot = await startBot({
    env: {
      TELEGRAM_BOT_TOKEN: telegram.token,
      TELEGRAM_API_ROOT: telegram.apiRoot,
      WEBHOOK_PORT: String(port),
      WEBHOOK_HOST: '127.0.0.1',
      WEBHOOK_SECRET: SECRET,
      ...options.env,
    },
    deps: options.idleTimeoutMs ? { webhookTimings: { idleTimeoutMs: options.idleTimeoutMs } } : {},
  });
  const directory = bot.app.directory as LocalDirectory;
  await directory.addMailbox({ email: MAILBOX, webhookOnly: true });
  const chats = await subscribeReaders(telegram, directory, MAILBOX, options.readers ?? 2, {
    firstChatId: nextChat,
  });
  nextChat += 10;
  const base = `http://127.0.0.1:${bot.app.webhookPort}`;
  return { chats, base, url: `${base}${webhookPath(SECRET, MAILBOX)}`, directory };
}

async function reports() {
  return await bot!.app.store.recent(50);
}

function sampleFiles() {
  return [
    {
      filename: 'report.csv',
      content: Buffer.from(
        makeCsv([
          ['region', 'sales'],
          ['north', 1],
        ]),
      ),
      type: 'text/csv',
    },
    { filename: 'report.pdf', content: makePdf({ pages: ['Sales'] }), type: 'application/pdf' },
    { filename: 'screenshot_0.png', content: makePng(1600, 1200), type: 'image/png' },
    { filename: 'screenshot_1.png', content: makePng(1600, 1000, { rgb: [200, 10, 10] }), type: 'image/png' },
  ];
}

describe('webhook: reports as Superset sends them', () => {
  it('delivers a multipart report (PDF and two tab screenshots) to every subscriber, with the mail caption', async () => {
    const { chats, url } = await world();
    const answer = await post(url, multipartRequest(reportPayload(), sampleFiles()));
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({ status: 'forward', deliveries: 2 });
    for (const chatId of chats) {
      const messages = await telegram.waitForMessages(chatId, 3, 15_000);
      const types = messages.map((message) => message.type).sort();
      expect(types).toEqual(['document', 'photo', 'photo']);
      const captioned = messages.filter((message) => message.caption);
      expect(captioned.length).toBeGreaterThan(0);
      for (const message of captioned) {
        expect(message.caption).toBe('Weekly sales: Sales dashboard\nОткрыть в Superset');
        expect(message.caption_entities).toEqual([
          expect.objectContaining({ type: 'text_link', url: DASHBOARD_URL }),
        ]);
      }
      expect(messages.find((message) => message.type === 'document')!.file_name).toBe('report.pdf');
    }
    const [report] = await reports();
    expect(report).toMatchObject({ mailbox: MAILBOX, status: 'forward', sender: null, uid: null });
    expect(report!.files.map((file) => file.filename)).toEqual([
      'report.pdf',
      'screenshot_0.png',
      'screenshot_1.png',
    ]);
    expect(report!.skipped).toEqual([
      expect.objectContaining({ filename: 'report.csv', reason: expect.stringContaining('CSV') }),
    ]);
    // a webhook-only mailbox has no IMAP listener, and the bot is ready without one
    expect(bot!.app.listeners.statuses()).toEqual([]);
    expect(bot!.app.readiness().ready).toBe(true);
  });

  it('records a JSON failure notice (no files) as a Superset notice, as its failure mail would be', async () => {
    const { chats, url } = await world();
    // execute.py names a missing-content notice after the schedule alone; webhook.py hides the diagnostics
    const notice = reportPayload({
      name: 'Weekly sales',
      description: '',
      text: 'Contact the report owner for error details.',
    });
    const answer = await post(url, jsonRequest(notice));
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({ status: 'superset_notice', deliveries: 0 });
    const [report] = await reports();
    expect(report).toMatchObject({ status: 'superset_notice', subject: 'Weekly sales' });
    expect(report!.description).toContain('Contact the report owner for error details.');
    await new Promise((resolve) => setTimeout(resolve, 300));
    for (const chatId of chats) expect(telegram.messagesIn(chatId)).toHaveLength(0);
  });

  it('recognises a retry of the same report and delivers it once', async () => {
    const { chats, url } = await world({ readers: 1 });
    const request = multipartRequest(reportPayload(), sampleFiles().slice(1, 2));
    const first = await post(url, request);
    const again = await post(url, multipartRequest(reportPayload(), sampleFiles().slice(1, 2)));
    expect(first.status).toBe(200);
    expect(again.status).toBe(200);
    expect(JSON.parse(again.body)).toMatchObject({
      status: 'duplicate',
      report: JSON.parse(first.body).report,
    });
    await telegram.waitForMessages(chats[0]!, 1, 15_000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(telegram.messagesIn(chats[0]!)).toHaveLength(1);
    // another report (other bytes) is not a retry
    const other = await post(
      url,
      multipartRequest(reportPayload(), [{ ...sampleFiles()[1]!, content: makePdf({ pages: ['Other'] }) }]),
    );
    expect(JSON.parse(other.body)).toMatchObject({ status: 'forward' });
    await telegram.waitForMessages(chats[0]!, 2, 15_000);
  });

  it('answers 500 while the store refuses, and delivers Superset’s retry once', async () => {
    const { chats, url, directory } = await world({ readers: 1 });
    void directory;
    // another connection holds the write lock past the bot's busy timeout: recording fails
    const blocker = new Database(path.join(bot!.dataDir, DATABASE_FILE));
    blocker.exec('BEGIN IMMEDIATE');
    const request = multipartRequest(reportPayload(), sampleFiles().slice(1, 3));
    const refused = await post(url, request);
    blocker.exec('ROLLBACK');
    blocker.close();
    expect(refused.status).toBe(500);
    expect(await reports()).toHaveLength(0);
    const spool = path.join(bot!.dataDir, 'spool');
    expect(existsSync(spool) ? readdirSync(spool) : []).toEqual([]);
    const retried = await post(url, multipartRequest(reportPayload(), sampleFiles().slice(1, 3)));
    expect(retried.status).toBe(200);
    await telegram.waitForMessages(chats[0]!, 2, 15_000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(telegram.messagesIn(chats[0]!)).toHaveLength(2);
  }, 30_000);
});

describe('webhook: what it refuses', () => {
  it('answers 404 for a wrong token with the same body as any unknown path, and 405 for GET', async () => {
    const { base, url } = await world();
    const request = multipartRequest(reportPayload(), sampleFiles().slice(1, 2));
    const wrongToken = await post(`${base}/webhook/${'A'.repeat(32)}`, request);
    const otherSecret = await post(`${base}${webhookPath(`${SECRET}-rotated`, MAILBOX)}`, request);
    const unknownPath = await post(`${base}/metrics`, request);
    const traversal = await post(`${base}/webhook/../webhook/x`, request);
    for (const answer of [wrongToken, otherSecret, unknownPath, traversal]) {
      expect(answer.status).toBe(404);
      expect(answer.body).toBe(unknownPath.body);
    }
    const get = await post(url, { headers: {}, body: Buffer.alloc(0) }, 'GET');
    expect(get.status).toBe(405);
    expect(await reports()).toHaveLength(0);
  });

  it('records a POST for a paused mailbox (200) and delivers it once when the mailbox is resumed, to the recipients of then', async () => {
    const { chats, url, directory } = await world({ readers: 2 });
    await directory.setMailboxPaused(MAILBOX, true);
    const paused = await post(url, multipartRequest(reportPayload(), sampleFiles().slice(1, 2)));
    expect(paused.status).toBe(200);
    expect(JSON.parse(paused.body)).toMatchObject({ status: 'forward', deliveries: 2 });
    expect(await reports()).toHaveLength(1);
    // held: several dispatcher polls (2 s) and paused-mailbox rechecks (5 s) pass, nothing is sent
    await new Promise((resolve) => setTimeout(resolve, 6000));
    for (const chatId of chats) expect(telegram.messagesIn(chatId)).toHaveLength(0);
    // while the mailbox is paused, the second reader is paused too: the directory of the resume decides
    await directory.setUserPaused(String(chats[1]), true);
    await directory.setMailboxPaused(MAILBOX, false);
    await telegram.waitForMessages(chats[0]!, 1, 15_000);
    // delivered once: a further recheck sends nothing more
    await new Promise((resolve) => setTimeout(resolve, 6000));
    expect(telegram.messagesIn(chats[0]!)).toHaveLength(1);
    expect(telegram.messagesIn(chats[1]!)).toHaveLength(0);
    // the URL's token never reaches a log line
    const token = url.split('/').at(-1)!;
    expect(bot!.logs.text()).not.toContain(token);
    expect(bot!.logs.text()).not.toContain(SECRET);
  });

  it('tells the admin chat when a webhook-only mailbox appears while the webhook receiver is off', async () => {
    const admin = nextChat++;
    telegram.addPrivateChat({ id: admin, first_name: 'Admins' });
    bot = await startBot({
      env: {
        TELEGRAM_BOT_TOKEN: telegram.token,
        TELEGRAM_API_ROOT: telegram.apiRoot,
        ADMIN_CHAT_ID: String(admin),
      },
    });
    const directory = bot.app.directory as LocalDirectory;
    await directory.addMailbox({ email: MAILBOX, webhookOnly: true });
    await eventually(
      () =>
        telegram
          .messagesIn(admin)
          .some((message) => message.text?.includes(`Mailbox ${MAILBOX} has no IMAP server`)),
      10_000,
      'the admin alert',
    );
    expect(
      telegram
        .messagesIn(admin)
        .map((message) => message.text ?? '')
        .join('\n'),
    ).not.toContain(telegram.token);
  });

  it("fails a paused mailbox's report held past DELIVERY_MAX_AGE_HOURS as stale when resumed, telling the admin chat", async () => {
    const admin = nextChat++;
    telegram.addPrivateChat({ id: admin, first_name: 'Admins' });
    const { chats, url, directory } = await world({ readers: 1, env: { ADMIN_CHAT_ID: String(admin) } });
    await directory.setMailboxPaused(MAILBOX, true);
    expect((await post(url, multipartRequest(reportPayload(), sampleFiles().slice(1, 2)))).status).toBe(200);
    // recorded a day and a minute ago; while the mailbox stays paused, it is held, not failed
    bot!.app.db
      .prepare('UPDATE deliveries SET created_at = ?')
      .run(new Date(Date.now() - (24 * 60 + 1) * 60_000).toISOString());
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const reportId = (await reports())[0]!.id;
    expect((await bot!.app.outbox.forReport(reportId))[0]).toMatchObject({ state: 'pending' });
    await directory.setMailboxPaused(MAILBOX, false);
    await eventually(() => bot!.app.dispatcher!.depth === 0, 15_000, 'an empty outbox');
    expect(telegram.messagesIn(chats[0]!)).toEqual([]);
    expect((await bot!.app.outbox.forReport(reportId))[0]).toMatchObject({
      state: 'failed',
      lastError: expect.stringContaining('stale'),
    });
    await eventually(
      () => telegram.messagesIn(admin).some((message) => message.text?.includes('is now stale')),
      10_000,
      'the admin alert',
    );
  });

  it('answers 413 above MAX_MAIL_MB, with and without Content-Length, as an answer and not a reset', async () => {
    const { url } = await world({ env: { MAX_MAIL_MB: '1' } });
    const big = multipartRequest(reportPayload(), [
      { filename: 'report.pdf', content: makePdf({ fillerBytes: 2 * 1024 * 1024 }), type: 'application/pdf' },
    ]);
    const declared = await post(url, big);
    expect(declared.status).toBe(413);
    expect(declared.body).toContain('MAX_MAIL_MB');
    // chunked: the size shows only while reading
    const { 'content-length': _length, ...chunkedHeaders } = big.headers;
    const chunked = await post(url, {
      headers: { ...chunkedHeaders, 'transfer-encoding': 'chunked' },
      body: big.body,
    });
    expect(chunked.status).toBe(413);
    expect(await reports()).toHaveLength(0);
    expect(readdirSync(path.join(bot!.dataDir, 'spool'))).toEqual([]);
  });

  it('answers 400 for malformed bodies and records nothing', async () => {
    const { url } = await world();
    const good = multipartRequest(reportPayload(), sampleFiles().slice(1, 2));
    const cut = { headers: good.headers, body: good.body.subarray(0, good.body.length - 30) };
    const cases = [
      // the body ends before the closing boundary
      { ...cut, headers: { ...cut.headers, 'content-length': String(cut.body.length) } },
      // no boundary parameter
      { headers: { ...good.headers, 'content-type': 'multipart/form-data' }, body: good.body },
      // header is not JSON
      multipartRequest({ ...reportPayload(), header: '{not json' as never }, sampleFiles().slice(1, 2)),
      // no name
      multipartRequest(reportPayload({ name: null }), sampleFiles().slice(1, 2)),
      jsonRequest(reportPayload({ name: null })),
      { headers: { 'content-type': 'application/json' }, body: Buffer.from('[1, 2]') },
      { headers: { 'content-type': 'application/json' }, body: Buffer.from('{"name": ') },
    ];
    for (const request of cases) {
      const answer = await post(url, request);
      expect(answer.status, answer.body).toBe(400);
    }
    expect(
      (await post(url, { headers: { 'content-type': 'text/plain' }, body: Buffer.from('hi') })).status,
    ).toBe(415);
    expect(await reports()).toHaveLength(0);
  });
});

describe('webhook: enemy input', () => {
  it('keeps a traversing file name inside the spool and uses only its last segment', async () => {
    const { chats, url } = await world({ readers: 1 });
    const answer = await post(
      url,
      multipartRequest(reportPayload(), [
        { filename: '../../../../etc/cron.d/evil.pdf', content: makePdf(), type: 'application/pdf' },
      ]),
    );
    expect(answer.status).toBe(200);
    const [report] = await reports();
    expect(report!.files[0]!.filename).toBe('evil.pdf');
    expect(path.dirname(report!.files[0]!.path)).toBe(report!.spoolDir);
    expect(report!.spoolDir!.startsWith(path.join(bot!.dataDir, 'spool'))).toBe(true);
    const [message] = await telegram.waitForMessages(chats[0]!, 1, 15_000);
    expect(message!.file_name).toBe('evil.pdf');
  });

  it('skips a part that claims to be a PDF but is HTML', async () => {
    const { chats, url } = await world({ readers: 1 });
    const answer = await post(
      url,
      multipartRequest(reportPayload(), [
        {
          filename: 'report.pdf',
          content: Buffer.from('<html><body>%PDF-1.4 login</body></html>'),
          type: 'application/pdf',
        },
      ]),
    );
    expect(JSON.parse(answer.body)).toMatchObject({ status: 'no_files' });
    expect((await reports())[0]!.skipped[0]!.reason).toBe('not a PDF: the content is HTML document');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(telegram.messagesIn(chats[0]!)).toHaveLength(0);
  });

  it('refuses thousands of parts and a huge header field, within bounds', async () => {
    const { url } = await world();
    const many = Array.from({ length: 3000 }, (_, index) => ({
      filename: `screenshot_${index}.png`,
      content: Buffer.from('x'),
      type: 'image/png',
    }));
    const manyParts = await post(url, multipartRequest(reportPayload(), many));
    expect(manyParts.status).toBe(400);
    expect(manyParts.body).toContain('parts');
    const hugeHeader = multipartRequest(
      {
        ...reportPayload(),
        header: { ...reportPayload().header, chart_id: 'x'.repeat(2 * 1024 * 1024) as never },
      },
      sampleFiles().slice(1, 2),
    );
    const huge = await post(url, hugeHeader);
    expect(huge.status).toBe(413);
    expect(await reports()).toHaveLength(0);
  });

  it('closes a connection whose body stalls (slow loris) and records nothing', async () => {
    const { url } = await world({ idleTimeoutMs: 400 });
    const request = multipartRequest(reportPayload(), sampleFiles().slice(1, 2));
    const started = Date.now();
    const slow = startPost(url, request, 200);
    const outcome = await slow.answer;
    expect(Date.now() - started).toBeLessThan(5000);
    expect(outcome.status === 0 || outcome.status === 408).toBe(true);
    expect(await reports()).toHaveLength(0);
  });
});

describe('webhook: stopping', () => {
  it('lets a POST in flight finish and be recorded, answers 503 to a request arriving meanwhile', async () => {
    const { chats, url } = await world({ readers: 1 });
    const request = multipartRequest(reportPayload(), sampleFiles().slice(1, 2));
    const inFlight = startPost(url, request, 100);
    // a connection that has sent half a request line: not idle, so it is kept, and answered once complete
    const target = new URL(url);
    const late = connect(Number(target.port), target.hostname);
    late.write('POS');
    let lateAnswer = '';
    late.setEncoding('utf8');
    late.on('data', (chunk: string) => {
      lateAnswer += chunk;
    });
    const lateClosed = new Promise((resolve) => late.on('close', resolve));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const stopping = bot!.app.stop();
    await new Promise((resolve) => setTimeout(resolve, 100));
    late.write(`T ${target.pathname} HTTP/1.1\r\nhost: ${target.host}\r\ncontent-length: 0\r\n\r\n`);
    await lateClosed;
    expect(lateAnswer).toMatch(/^HTTP\/1\.1 503 /);
    expect(lateAnswer.toLowerCase()).toContain('retry-after: 10');
    inFlight.finish();
    const answer = await inFlight.answer;
    expect(answer.status).toBe(200);
    await stopping;
    // a new connection is refused now
    await expect(post(url, request)).rejects.toThrow(/ECONNREFUSED/);
    // recorded before the database closed; delivered after the restart
    const dataDir = bot!.dataDir;
    bot = await startBot({
      dataDir,
      env: { TELEGRAM_BOT_TOKEN: telegram.token, TELEGRAM_API_ROOT: telegram.apiRoot },
    });
    await telegram.waitForMessages(chats[0]!, 1, 15_000);
  });
});
