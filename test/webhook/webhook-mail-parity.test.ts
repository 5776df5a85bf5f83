/**
 * A report POSTed to the webhook goes exactly as the same report mailed would: the files
 * FORWARD_FILE_TYPES forwards (Superset's report.csv and report.xlsx), skipped with the mail's reasons
 * otherwise; tall dashboards cut into tiles and blank screenshots told to the admin chat; Superset's
 * webhook failure notices (JSON, no files) recognised and routed by SUPERSET_NOTICES, a retried POST
 * told once; and a TEXT report, which the webhook cannot carry, recorded with the reason. End to end:
 * requests shaped as Superset sends them, the bot in process, the real grammY client, the fake Bot API.
 */
import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { LocalDirectory } from '../../src/directory/local/local-directory.js';
import { parseMail } from '../../src/mail/mail-parser.js';
import { webhookPath } from '../../src/webhook/webhook-token.js';
import type { DeliveredMessage } from '../fakes/telegram/call-log.js';
import { FakeTelegram } from '../fakes/telegram/fake-telegram.js';
import { makeCsv, makeXlsx } from '../fixtures/sample-files.js';
import { eventually, freePort, type RunningBot, removeDir, startBot } from '../support/bot-harness.js';
import { blankPng, stripedPng } from '../support/dashboard-images.js';
import { subscribeReaders } from '../support/readers.js';
import {
  jsonRequest,
  multipartRequest,
  post,
  reportPayload,
  type SupersetFile,
} from '../support/superset-webhook.js';

const SECRET = 'webhook-secret-for-parity-tests-0123456789';
const MAILBOX = 'reports@bi.example.com';

let telegram: FakeTelegram;
let bot: RunningBot | null = null;
let nextChat = 7_200_000;

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

/** A bot with the webhook on, an admin chat, and one webhook-only mailbox with `readers` subscribers. */
async function world(env: Record<string, string> = {}, readers = 2) {
  const port = await freePort();
  const admin = nextChat++;
  telegram.addPrivateChat({ id: admin, first_name: 'Admins' });
  bot = await startBot({
    env: {
      TELEGRAM_BOT_TOKEN: telegram.token,
      TELEGRAM_API_ROOT: telegram.apiRoot,
      WEBHOOK_PORT: String(port),
      WEBHOOK_HOST: '127.0.0.1',
      WEBHOOK_SECRET: SECRET,
      ADMIN_CHAT_ID: String(admin),
      ...env,
    },
  });
  const directory = bot.app.directory as LocalDirectory;
  await directory.addMailbox({ email: MAILBOX, webhookOnly: true });
  const chats = await subscribeReaders(telegram, directory, MAILBOX, readers, { firstChatId: nextChat });
  nextChat += 10;
  return { admin, chats, url: `http://127.0.0.1:${bot.app.webhookPort}${webhookPath(SECRET, MAILBOX)}` };
}

/** The chat's messages once the outbox is empty (nothing more is coming). */
async function settled(chatId: number): Promise<DeliveredMessage[]> {
  await eventually(() => bot!.app.dispatcher!.depth === 0, 30_000, 'an empty outbox');
  return telegram.messagesIn(chatId);
}

function texts(chatId: number): string[] {
  return telegram.messagesIn(chatId).map((message) => message.text ?? '');
}

/** Superset's tabular files, as webhook.py names and types them (chart report, CSV and XLSX). */
function tabularFiles(): SupersetFile[] {
  const rows = [
    ['region', 'sales'],
    ['north', 1200],
    ['south', 900],
  ] as const;
  return [
    { filename: 'report.csv', content: Buffer.from(makeCsv(rows)), type: 'text/csv' },
    {
      filename: 'report.xlsx',
      content: makeXlsx(rows),
      type: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
    },
  ];
}

/** The same files as attachments of a mail, read by the mail parser: what the mail path makes of them. */
async function asMail(files: SupersetFile[], forwardTypes: Array<'pdf' | 'png' | 'csv' | 'xlsx'>) {
  const boundary = 'parity-boundary';
  const raw = [
    'From: superset@bi.example.com',
    `To: ${MAILBOX}`,
    'Subject: [Report]  Weekly sales: Sales chart',
    'MIME-Version: 1.0',
    `Content-Type: multipart/mixed; boundary="${boundary}"`,
    '',
    `--${boundary}`,
    'Content-Type: text/html; charset=utf-8',
    '',
    '<p>Sales by region</p>',
    ...files.flatMap((file) => [
      `--${boundary}`,
      `Content-Type: ${file.type}`,
      `Content-Disposition: attachment; filename="${file.filename}"`,
      'Content-Transfer-Encoding: base64',
      '',
      file.content.toString('base64'),
    ]),
    `--${boundary}--`,
    '',
  ].join('\r\n');
  return parseMail(Readable.from([Buffer.from(raw)]), {
    spoolDir: `${bot!.dataDir}/parity-mail`,
    maxFileBytes: 10 * 1024 * 1024,
    forwardTypes,
  });
}

const chartPayload = () =>
  reportPayload({
    name: 'Weekly sales: Sales chart',
    header: {
      notification_format: 'CSV',
      notification_type: 'Report',
      notification_source: 'chart',
      chart_id: 12,
      dashboard_id: null,
    },
  });

describe('webhook files: FORWARD_FILE_TYPES as for mail', () => {
  it('sends report.csv and report.xlsx as documents with their names when FORWARD_FILE_TYPES lists csv and xlsx', async () => {
    const { chats, url } = await world({ FORWARD_FILE_TYPES: 'pdf,png,csv,xlsx' });
    const answer = await post(url, multipartRequest(chartPayload(), tabularFiles()));
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({ status: 'forward', deliveries: 2 });
    for (const chatId of chats) {
      await telegram.waitForMessages(chatId, 2, 15_000);
      const messages = await settled(chatId);
      expect(messages.map((message) => [message.type, message.file_name])).toEqual([
        ['document', 'report.csv'],
        ['document', 'report.xlsx'],
      ]);
      expect(messages[1]!.file_size).toBe(tabularFiles()[1]!.content.length);
    }
    const [report] = await bot!.app.store.recent(1);
    expect(report!.files.map((file) => [file.filename, file.contentType])).toEqual([
      ['report.csv', 'text/csv'],
      ['report.xlsx', 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'],
    ]);
    expect(report!.skipped).toEqual([]);
    // the mail path keeps the same files under the same names
    const mail = await asMail(tabularFiles(), ['pdf', 'png', 'csv', 'xlsx']);
    expect(mail.files.map((file) => [file.filename, file.contentType])).toEqual(
      report!.files.map((file) => [file.filename, file.contentType]),
    );
  });

  it('records them as skipped, with the mail parser’s reasons, when FORWARD_FILE_TYPES does not list them', async () => {
    const { chats, url } = await world();
    const answer = await post(url, multipartRequest(chartPayload(), tabularFiles()));
    expect(JSON.parse(answer.body)).toMatchObject({ status: 'no_files', deliveries: 0 });
    const [report] = await bot!.app.store.recent(1);
    expect(report!.skipped.map((part) => [part.filename, part.reason])).toEqual([
      ['report.csv', 'CSV: only PDF and PNG files are forwarded'],
      ['report.xlsx', 'Excel workbook: only PDF and PNG files are forwarded'],
    ]);
    const mail = await asMail(tabularFiles(), ['pdf', 'png']);
    expect(mail.skipped.map((part) => [part.filename, part.reason])).toEqual(
      report!.skipped.map((part) => [part.filename, part.reason]),
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    for (const chatId of chats) expect(telegram.messagesIn(chatId)).toHaveLength(0);
  });
});

describe('webhook images: tiles and blank screenshots as for mail', () => {
  /** 400 px wide (tiles up to 1200 rows at PHOTO_MAX_ASPECT_RATIO 3), a 16-row gap every 500 rows. */
  function tallStriped(height: number): Promise<Buffer> {
    const gaps: number[] = [];
    for (let top = 484; top < height; top += 500) gaps.push(top);
    return stripedPng(400, height, gaps);
  }

  it('cuts a tall dashboard PNG into tiles sent as albums, then the original as a document; a retry is still a retry', async () => {
    const { chats, url } = await world();
    const png = await tallStriped(6_000);
    const files = [{ filename: 'screenshot_0.png', content: png, type: 'image/png' }];
    const answer = await post(url, multipartRequest(reportPayload(), files));
    expect(answer.status).toBe(200);
    const report = (await bot!.app.store.recent(1))[0]!;
    const tiles = report.files[0]!.tiles!;
    expect(tiles.length).toBeGreaterThan(1);
    expect(tiles.every((tile) => tile.path.startsWith(report.spoolDir!) && tile.height! <= 1200)).toBe(true);
    for (const chatId of chats) {
      await telegram.waitForMessages(chatId, tiles.length + 1, 30_000);
      const messages = await settled(chatId);
      expect(messages.map((message) => message.type)).toEqual([
        ...Array(tiles.length).fill('photo'),
        'document',
      ]);
      expect(messages[0]!.media_group_id).toBeDefined();
      expect(messages[0]!.caption).toContain('Weekly sales: Sales dashboard');
      expect(messages.at(-1)!.file_name).toBe('screenshot_0.png');
      expect(messages.at(-1)!.file_size).toBe(png.length);
    }
    // Superset retrying the same POST: recognised, no second report, no second send
    const again = await post(url, multipartRequest(reportPayload(), files));
    expect(JSON.parse(again.body)).toMatchObject({ status: 'duplicate', report: report.id });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await settled(chats[0]!)).toHaveLength(tiles.length + 1);
  }, 60_000);

  it('delivers a blank screenshot and tells the admin chat which report and mailbox', async () => {
    const { admin, chats, url } = await world({}, 1);
    const files = [{ filename: 'screenshot_0.png', content: await blankPng(1600, 1200), type: 'image/png' }];
    expect((await post(url, multipartRequest(reportPayload(), files))).status).toBe(200);
    await telegram.waitForMessages(chats[0]!, 1, 20_000);
    const report = (await bot!.app.store.recent(1))[0]!;
    const [alert] = await telegram.waitForMessages(admin, 1, 20_000);
    expect(alert!.text).toContain(`Report ${report.id}`);
    expect(alert!.text).toContain(MAILBOX);
    expect(alert!.text).toContain('sent anyway');
  });

  it('holds a blank screenshot with BLANK_SCREENSHOTS=hold: recorded, not sent, the admin told how to release it', async () => {
    const { admin, chats, url } = await world({ BLANK_SCREENSHOTS: 'hold' }, 1);
    const files = [
      { filename: 'screenshot_0.png', content: await blankPng(1600, 1200, '#f7f7f7'), type: 'image/png' },
    ];
    const answer = await post(url, multipartRequest(reportPayload(), files));
    expect(JSON.parse(answer.body)).toMatchObject({ status: 'forward', deliveries: 0 });
    const [alert] = await telegram.waitForMessages(admin, 1, 20_000);
    const report = (await bot!.app.store.recent(1))[0]!;
    expect(alert!.text).toContain(`resend ${report.id}`);
    expect(alert!.text).toContain(MAILBOX);
    expect(report.reason).toMatch(/held/);
    expect(await bot!.app.outbox.forReport(report.id)).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(telegram.messagesIn(chats[0]!)).toHaveLength(0);
  });
});

/**
 * What Superset POSTs when a report's content is missing (execute.py `_get_notification_content`, to
 * every recipient, the webhook among them): JSON, the schedule's name alone, no description, the
 * diagnostics replaced by webhook.py (master) or as they are (6.1).
 */
function failureNotice(text: string) {
  return jsonRequest(
    reportPayload({ name: 'Weekly sales', description: '', text, header: chartPayload().header }),
  );
}

describe('webhook notices: Superset’s failure POSTs as its failure mails', () => {
  it('recognises the notice (master and 6.1 texts) and tells the admin chat one line; nothing to the subscribers', async () => {
    const { admin, chats, url } = await world();
    const master = await post(url, failureNotice('Contact the report owner for error details.'));
    expect(JSON.parse(master.body)).toMatchObject({ status: 'superset_notice', deliveries: 0 });
    const older = await post(url, failureNotice('Unexpected missing csv file'));
    expect(JSON.parse(older.body)).toMatchObject({ status: 'superset_notice', deliveries: 0 });
    await eventually(() => texts(admin).length >= 2, 15_000, 'the admin chat told');
    expect(texts(admin)).toEqual([
      `⚠️ Superset could not produce report "Weekly sales" in ${MAILBOX}.`,
      `⚠️ Superset could not produce report "Weekly sales" in ${MAILBOX}.`,
    ]);
    for (const chatId of chats) expect(telegram.messagesIn(chatId)).toHaveLength(0);
  });

  it('with SUPERSET_NOTICES=subscribers tells each subscriber once, also when Superset retries the POST', async () => {
    const { admin, chats, url } = await world({ SUPERSET_NOTICES: 'subscribers' });
    const first = await post(url, failureNotice('Contact the report owner for error details.'));
    expect(JSON.parse(first.body)).toMatchObject({ status: 'superset_notice', deliveries: 2 });
    const retried = await post(url, failureNotice('Contact the report owner for error details.'));
    expect(JSON.parse(retried.body)).toMatchObject({
      status: 'duplicate',
      report: JSON.parse(first.body).report,
    });
    for (const chatId of chats) {
      await telegram.waitForMessages(chatId, 1, 15_000);
      expect(await settled(chatId)).toHaveLength(1);
      expect(texts(chatId)).toEqual(['⚠️ Отчёт «Weekly sales» сегодня не сформирован.']);
    }
    await eventually(() => texts(admin).length >= 1, 15_000, 'the admin chat told');
    expect(texts(admin)).toEqual([
      `⚠️ Superset could not produce report "Weekly sales" in ${MAILBOX}; 2 recipient chats told it was not produced.`,
    ]);
  });

  it('records a TEXT report POST (Superset sends no table by webhook) as having nothing to forward, saying why', async () => {
    const { chats, url } = await world({ FORWARD_FILE_TYPES: 'pdf,png,text' });
    const answer = await post(
      url,
      jsonRequest({ ...chartPayload(), header: { ...chartPayload().header, notification_format: 'TEXT' } }),
    );
    expect(JSON.parse(answer.body)).toMatchObject({ status: 'no_files', deliveries: 0 });
    const [report] = await bot!.app.store.recent(1);
    expect(report!.skipped).toEqual([
      expect.objectContaining({
        reason: expect.stringContaining("Superset's webhook does not send the table"),
      }),
    ]);
    expect(bot!.logs.text()).toContain('a TEXT report came by webhook, which never carries the table');
    await new Promise((resolve) => setTimeout(resolve, 300));
    for (const chatId of chats) expect(telegram.messagesIn(chatId)).toHaveLength(0);
  });
});
