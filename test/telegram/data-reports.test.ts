/**
 * Issue 13 part 4 end to end: Superset's CSV, XLSX, ZIP and TEXT reports appended to a real Dovecot
 * mailbox reach the subscribed chats of the fake Bot API through the real grammY client, with
 * FORWARD_FILE_TYPES naming them: the files as documents under the right names, a TEXT report as a
 * `<pre>` table (or a CSV document when it is too long), the same table after a restart mid-fan-out.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { monospaceTable, TABLE_TEXT_MAX_LENGTH } from '../../src/core/text-table.js';
import type { LocalDirectory } from '../../src/directory/local/local-directory.js';
import { DovecotServer } from '../dovecot/dovecot.js';
import { FakeTelegram, faults } from '../fakes/telegram/fake-telegram.js';
import { makeCsv, makeXlsx, makeZip } from '../fixtures/sample-files.js';
import { longTableRows, textReportMail } from '../fixtures/superset-data-mail.js';
import { buildSupersetMail, supersetReportHtml, supersetTableHtml } from '../fixtures/superset-mail.js';
import { eventually, type RunningBot, removeDir, startBot } from '../support/bot-harness.js';
import { subscribeReaders } from '../support/readers.js';

const CHART_URL = 'https://superset.example.com/explore/p/Vb81KdWq2Mx/?standalone=0';
const ALL_TYPES = 'pdf,png,csv,xlsx,zip,text';

let dovecot: DovecotServer;
let telegram: FakeTelegram;
const bots: RunningBot[] = [];
let nextUser = 0;
let nextChat = 7_100_000;

beforeAll(async () => {
  dovecot = await DovecotServer.start({ users: 6 });
  telegram = await FakeTelegram.start();
});

afterAll(async () => {
  await telegram?.stop();
  await dovecot?.stop();
});

afterEach(async () => {
  for (const bot of bots.splice(0)) {
    await bot.stop();
    removeDir(bot.dataDir);
  }
  telegram.clearFaults();
});

async function boot(env: Record<string, string>, dataDir?: string): Promise<RunningBot> {
  const bot = await startBot({
    ...(dataDir ? { dataDir } : {}),
    env: { TELEGRAM_BOT_TOKEN: telegram.token, TELEGRAM_API_ROOT: telegram.apiRoot, ...env },
  });
  bots.push(bot);
  return bot;
}

/** A bot with one mailbox on a fresh Dovecot user and `readers` subscribed chats. */
async function world(env: Record<string, string> = { FORWARD_FILE_TYPES: ALL_TYPES }, readers = 1) {
  const bot = await boot(env);
  nextUser++;
  const user = `user${nextUser}`;
  const email = dovecot.address(user);
  const directory = bot.app.directory as LocalDirectory;
  await directory.addMailbox(dovecot.mailbox(user));
  await eventually(() => bot.app.listeners.listener(email)?.status().lastSyncAt, 10_000, 'mailbox connected');
  const chats = await subscribeReaders(telegram, directory, email, readers, { firstChatId: nextChat });
  nextChat += readers;
  return { bot, user, email, chats };
}

function dataMail(seed: string, subject: string, name: string, data: Buffer): Buffer {
  return buildSupersetMail({
    seed,
    subject,
    html: supersetReportHtml({ url: CHART_URL }),
    data: { name, data },
  });
}

describe('data reports (FORWARD_FILE_TYPES)', () => {
  it('forwards CSV, XLSX and ZIP bundles as documents named by what their bytes are', async () => {
    const { user, chats } = await world();
    const chat = chats[0]!;
    const csv = Buffer.from(
      makeCsv([
        ['region', 'revenue'],
        ['North', 1200.5],
      ]),
    );
    const xlsx = makeXlsx([
      ['Регион', 'Выручка'],
      ['Москва', 1250.5],
    ]);
    const zip = makeZip([
      { name: 'query_1.csv', data: 'a\n1\n' },
      { name: 'query_2.csv', data: 'b\n2\n' },
    ]);
    await dovecot.append(
      user,
      dataMail('e2e-csv', '[Report]  Revenue: By region', 'Revenue: By region.csv', csv),
    );
    await dovecot.append(
      user,
      dataMail('e2e-xlsx', '[Report]  Выручка: Регионы', 'Выручка: Регионы.xlsx', xlsx),
    );
    // Superset 6.0/6.1: the bundle of a multi-query chart is a ZIP named .csv
    await dovecot.append(user, dataMail('e2e-zip', '[Report]  Mixed: Multi', 'Mixed: Multi.csv', zip));
    const messages = await telegram.waitForMessages(chat, 3, 20_000);
    expect(messages.map((message) => [message.type, message.file_name, message.file_size])).toEqual([
      ['document', 'Revenue: By region.csv', csv.length],
      ['document', 'Выручка: Регионы.xlsx', xlsx.length],
      ['document', 'Mixed: Multi.csv.zip', zip.length],
    ]);
    expect(messages[0]!.caption).toContain('[Report] Revenue: By region');
  });

  it('without them in FORWARD_FILE_TYPES (the default) a CSV report is recorded, not sent', async () => {
    const { bot, user, chats } = await world({});
    const csv = Buffer.from(makeCsv([['a'], [1]]));
    await dovecot.append(user, dataMail('e2e-off', '[Report]  Off', 'Off.csv', csv));
    const report = await eventually(
      async () => (await bot.app.store.recent(5)).find((recorded) => recorded.subject === '[Report] Off'),
      15_000,
      'report recorded',
    );
    expect(report.status).toBe('no_files');
    expect(report.reason).toContain('only PDF and PNG files are forwarded');
    expect(telegram.messagesIn(chats[0]!)).toHaveLength(0);
  });

  it('sends a TEXT report as an escaped <pre> table under the caption', async () => {
    const { user, chats } = await world();
    const chat = chats[0]!;
    const table = supersetTableHtml(
      ['Товар', 'Шт.'],
      [
        ['Виджет &amp; Ко', '120'],
        ['&lt;/pre&gt;&lt;b&gt;x&lt;/b&gt;', '7'],
      ],
    );
    await dovecot.append(user, textReportMail('e2e-text', '[Report]  Топ: Товары', table));
    const [message] = await telegram.waitForMessages(chat, 1, 15_000);
    expect(message!.type).toBe('text');
    // 14 columns for the widest cell, two spaces, the numbers right-aligned under "Шт."
    const expectedTable = [
      `${'Товар'.padEnd(14)}  Шт.`,
      `${'-'.repeat(14)}  ---`,
      `${'Виджет & Ко'.padEnd(14)}  120`,
      '</pre><b>x</b>    7',
    ].join('\n');
    expect(message!.text).toBe(`[Report] Топ: Товары\nОткрыть в Superset\n\n${expectedTable}`);
    const pre = message!.entities!.find((entity) => entity.type === 'pre');
    expect(pre).toBeDefined();
    expect(message!.text!.slice(pre!.offset, pre!.offset + pre!.length)).toBe(expectedTable);
    // the cell's markup is text, not formatting; the only link is the caption's
    expect(message!.entities!.map((entity) => entity.type).sort()).toEqual(['pre', 'text_link']);
    expect(message!.entities!.find((entity) => entity.type === 'text_link')).toMatchObject({
      url: CHART_URL,
    });
  });

  it('a table near the limit under a 1,000-character subject: the caption is cut, the table stays whole', async () => {
    const { user, chats } = await world();
    let rows = 1;
    const grid = (count: number) => ({
      cells: [['product', 'units'], ...longTableRows().slice(0, count)],
      headerRows: 1,
    });
    while (monospaceTable(grid(rows + 1)) !== null) rows++;
    const table = monospaceTable(grid(rows))!;
    expect([...table].length).toBeGreaterThan(TABLE_TEXT_MAX_LENGTH - 40);
    const subject = `[Report]  ${'Очень длинное название отчёта '.repeat(34)}`;
    await dovecot.append(
      user,
      textReportMail(
        'e2e-text-edge',
        subject,
        supersetTableHtml(['product', 'units'], longTableRows().slice(0, rows)),
      ),
    );
    const [message] = await telegram.waitForMessages(chats[0]!, 1, 15_000);
    expect(message!.type).toBe('text');
    expect([...message!.text!].length).toBeLessThanOrEqual(4096);
    expect(message!.text!.endsWith(`\n\n${table}`)).toBe(true);
    expect(message!.text!.split('\n')[0]).toMatch(/…$/);
  });

  it('sends a TEXT report too long for one message as a CSV document for Excel', async () => {
    const { user, chats } = await world();
    const rows = longTableRows();
    await dovecot.append(
      user,
      textReportMail(
        'e2e-text-long',
        '[Report]  Top: Products',
        supersetTableHtml(['product', 'units'], rows),
      ),
    );
    const [message] = await telegram.waitForMessages(chats[0]!, 1, 15_000);
    expect(message!.type).toBe('document');
    expect(message!.file_name).toBe('Top: Products.csv');
    const expected = Buffer.from(
      `\ufeffproduct;units\r\n${rows.map(([name, units]) => `${name};${units}`).join('\r\n')}\r\n`,
      'utf8',
    );
    expect(message!.file_size).toBe(expected.length);
  });

  it('a restart in the middle of the fan-out sends the very same table to the rest', async () => {
    const { bot, user, chats } = await world({ FORWARD_FILE_TYPES: ALL_TYPES }, 3);
    const [first, ...rest] = chats as [number, number, number];
    // the other two chats cannot be reached: their deliveries stay pending
    for (const chatId of rest) telegram.failNext(10_000, faults.badGateway(), { chatId });
    const table = supersetTableHtml(
      ['k', 'v'],
      [
        ['a', '1'],
        ['b', '2'],
      ],
    );
    await dovecot.append(user, textReportMail('e2e-restart', '[Report]  Restart', table));
    const [sent] = await telegram.waitForMessages(first, 1, 15_000);
    const dataDir = bot.dataDir;
    await bot.stop();
    bots.splice(bots.indexOf(bot), 1);
    telegram.clearFaults();
    await boot({ FORWARD_FILE_TYPES: ALL_TYPES }, dataDir);
    for (const chatId of rest) {
      const [message] = await telegram.waitForMessages(chatId, 1, 20_000);
      expect(message!.text).toBe(sent!.text);
      expect(message!.entities).toEqual(sent!.entities);
    }
    expect(telegram.messagesIn(first)).toHaveLength(1);
  });
});
