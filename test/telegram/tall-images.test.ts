/**
 * Tall dashboards and blank screenshots end to end: a mail appended to a real Dovecot mailbox, the bot
 * cutting its PNG into tiles once at intake, and the real grammY client sending them to the fake Bot
 * API as photo albums then the original as a document, uploaded once and fanned out by file_id; the
 * mode per mailbox and per group; a blank screenshot told to the admin chat, delivered or held.
 */
import { rmSync, truncateSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { LocalDirectory } from '../../src/directory/local/local-directory.js';
import { DovecotServer } from '../dovecot/dovecot.js';
import type { DeliveredMessage } from '../fakes/telegram/call-log.js';
import { FakeTelegram } from '../fakes/telegram/fake-telegram.js';
import { eventually, type RunningBot, removeDir, startBot } from '../support/bot-harness.js';
import { runCli } from '../support/bot-process.js';
import { blankPng, dashboardPng, stripedPng } from '../support/dashboard-images.js';
import { subscribeReaders } from '../support/readers.js';
import { pngReportMail } from '../support/simple-mail.js';

let dovecot: DovecotServer;
let telegram: FakeTelegram;
let bot: RunningBot | null = null;
let nextUser = 0;
let nextChat = 7_000_000;

beforeAll(async () => {
  dovecot = await DovecotServer.start({ users: 7 });
  telegram = await FakeTelegram.start();
});

afterAll(async () => {
  await telegram?.stop();
  await dovecot?.stop();
});

afterEach(async () => {
  if (bot) {
    await bot.stop();
    removeDir(bot.dataDir);
    bot = null;
  }
});

function directory(): LocalDirectory {
  return bot!.app.directory as LocalDirectory;
}

async function world(
  env: Record<string, string> = {},
  mailbox: { tallImageMode?: 'tiles' | 'document' } = {},
) {
  bot = await startBot({
    env: { TELEGRAM_BOT_TOKEN: telegram.token, TELEGRAM_API_ROOT: telegram.apiRoot, ...env },
  });
  nextUser++;
  const user = `user${nextUser}`;
  const email = dovecot.address(user);
  await directory().addMailbox({ ...dovecot.mailbox(user), ...mailbox });
  await eventually(
    () => bot!.app.listeners.listener(email)?.status().lastSyncAt,
    10_000,
    'mailbox connected',
  );
  return { user, email };
}

async function addUsers(email: string, count: number): Promise<number[]> {
  const ids = await subscribeReaders(telegram, directory(), email, count, { firstChatId: nextChat });
  nextChat += count;
  return ids;
}

/** The chat's messages once the outbox is empty (nothing more is coming). */
async function settled(chatId: number): Promise<DeliveredMessage[]> {
  await eventually(() => bot!.app.dispatcher!.depth === 0, 30_000, 'an empty outbox');
  return telegram.messagesIn(chatId);
}

/** 400 px wide (tiles up to 1200 rows at PHOTO_MAX_ASPECT_RATIO 3), a 16-row gap every 500 rows. */
function tallStriped(height: number): Promise<Buffer> {
  const gaps: number[] = [];
  for (let top = 484; top < height; top += 500) gaps.push(top);
  return stripedPng(400, height, gaps);
}

describe('tall dashboards', () => {
  it('sends the tiles as albums of at most 10 then the original, once per chat, uploading each tile once', async () => {
    const { user, email } = await world();
    const readers = await addUsers(email, 3);
    telegram.reset();
    const mail = pngReportMail({ images: [await tallStriped(13_000)] });
    await dovecot.append(user, mail.raw);
    await eventually(
      async () => (await bot!.app.store.recent(1))[0]?.files[0]?.tiles,
      30_000,
      'the report recorded',
    );
    // the tiles sit next to the report's files, recorded with it, each within 400 × 3 rows
    const report = (await bot!.app.store.recent(1))[0]!;
    const tiles = report.files[0]!.tiles!;
    const count = tiles.length;
    expect(count).toBeGreaterThan(10); // 13000 / 1200 rows: more than one album
    expect(tiles.every((tile) => tile.path.startsWith(report.spoolDir!) && tile.height! <= 1200)).toBe(true);
    for (const chatId of readers) await telegram.waitForMessages(chatId, count + 1, 30_000);
    const filesOf = new Map<number, string[]>();
    for (const chatId of readers) {
      const messages = await settled(chatId);
      expect(messages.map((message) => message.type)).toEqual([...Array(count).fill('photo'), 'document']);
      const albums = [...new Set(messages.slice(0, count).map((message) => message.media_group_id))];
      expect(albums).toHaveLength(2);
      expect(albums.every((album) => album !== undefined)).toBe(true);
      // the caption once under the tiles (first item only) and on the document
      expect(messages[0]!.caption).toContain(mail.subject);
      expect(messages.slice(1, count).every((message) => message.caption === undefined)).toBe(true);
      expect(messages[count]!.caption).toContain(mail.subject);
      expect(messages[count]!.file_name).toMatch(/\.png$/);
      expect(messages[count]!.file_size).toBe(mail.pngs[0]!.length);
      filesOf.set(
        chatId,
        messages.map((message) => message.file_unique_id!),
      );
    }
    // every chat got the same files (fan-out by file_id), and each was uploaded once
    const [first, ...others] = [...filesOf.values()];
    for (const other of others) expect(other).toEqual(first);
    expect(new Set(first).size).toBe(count + 1);
    expect(telegram.calls.flatMap((call) => call.files)).toHaveLength(count + 1);
    expect(telegram.callsTo('sendMediaGroup').filter((call) => call.status === 200)).toHaveLength(6);
  });

  it('cuts a real-looking 1600×9000 dashboard in its gaps and sends the tiles only in tiles mode', async () => {
    const { user, email } = await world({ TALL_IMAGE_MODE: 'tiles' });
    const [reader] = await addUsers(email, 1);
    const { png, rowTops } = await dashboardPng({ width: 1600, height: 9000, seed: 11 });
    await dovecot.append(user, pngReportMail({ images: [png] }).raw);
    await telegram.waitForMessages(reader!, 2, 30_000);
    const messages = await settled(reader!);
    expect(messages.map((message) => message.type)).toEqual(['photo', 'photo']);
    const [tile] = (await bot!.app.store.recent(1))[0]!.files[0]!.tiles!;
    expect(rowTops.some((top) => tile!.height! >= top - 16 && tile!.height! < top)).toBe(true);
  });

  it('follows the mailbox’s mode and a group’s own mode over it', async () => {
    const { user, email } = await world({}, { tallImageMode: 'document' });
    const [reader] = await addUsers(email, 1);
    const group = telegram.addGroup({ title: 'Tiles please', botStatus: 'member' });
    await directory().addGroup({
      title: 'Tiles please',
      mailboxes: [email],
      telegramId: group,
      tallImageMode: 'tiles',
    });
    await dovecot.append(user, pngReportMail({ images: [await tallStriped(3000)] }).raw);
    await telegram.waitForMessages(group, 3, 30_000);
    expect((await settled(reader!)).map((message) => message.type)).toEqual(['document']);
    expect(telegram.messagesIn(group).map((message) => message.type)).toEqual(['photo', 'photo', 'photo']);
  });

  it('sends the original as a document when tiles are gone or truncated in the spool, once per chat', async () => {
    const admin = nextChat++;
    telegram.addPrivateChat({ id: admin, first_name: 'Admins' });
    const { user, email } = await world({ ADMIN_CHAT_ID: String(admin) });
    const readers = await addUsers(email, 2);
    // Telegram unreachable: the report is recorded but nothing goes until the spool is damaged
    await telegram.refuseConnections();
    const mail = pngReportMail({ images: [await tallStriped(3000)] });
    await dovecot.append(user, mail.raw);
    await eventually(
      async () => (await bot!.app.store.recent(1))[0]?.files[0]?.tiles,
      30_000,
      'the report recorded',
    );
    const report = (await bot!.app.store.recent(1))[0]!;
    const tiles = report.files[0]!.tiles!;
    expect(tiles.length).toBe(3);
    // what a power cut before the tiles reached the disk leaves: one tile missing, one empty
    rmSync(tiles[0]!.path);
    truncateSync(tiles[2]!.path, 0);
    await telegram.acceptConnections();
    for (const chatId of readers) {
      await telegram.waitForMessages(chatId, 1, 30_000);
      const messages = await settled(chatId);
      expect(messages.map((message) => message.type)).toEqual(['document']);
      expect(messages[0]!.caption).toContain(mail.subject);
      expect(messages[0]!.file_size).toBe(mail.pngs[0]!.length);
    }
    expect((await bot!.app.outbox.forReport(report.id)).map((delivery) => delivery.state)).toEqual([
      'sent',
      'sent',
    ]);
    const told = () => telegram.messagesIn(admin).filter((message) => /tiles of/.test(message.text ?? ''));
    await eventually(() => told().length > 0, 20_000, 'the admin told');
    // both chats' fallbacks raised it before their documents went; a second message would follow the first
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const alerts = told();
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.text).toContain(`(${report.id})`);
  });

  it('sends the original only with TALL_IMAGE_MODE=document, and makes no tiles', async () => {
    const { user, email } = await world({ TALL_IMAGE_MODE: 'document' });
    const [reader] = await addUsers(email, 1);
    await dovecot.append(user, pngReportMail({ images: [await tallStriped(3000)] }).raw);
    await telegram.waitForMessages(reader!, 1, 30_000);
    expect((await settled(reader!)).map((message) => message.type)).toEqual(['document']);
    expect((await bot!.app.store.recent(1))[0]!.files[0]!.tiles).toBeUndefined();
  });
});

describe('blank screenshots', () => {
  async function adminWorld(mode: 'deliver' | 'hold') {
    const admin = nextChat++;
    telegram.addPrivateChat({ id: admin, first_name: 'Admins' });
    const { user, email } = await world({ ADMIN_CHAT_ID: String(admin), BLANK_SCREENSHOTS: mode });
    const [reader] = await addUsers(email, 1);
    return { admin, user, email, reader: reader! };
  }

  it('delivers a blank screenshot and tells the admin chat which report and mailbox', async () => {
    const { admin, user, email, reader } = await adminWorld('deliver');
    const mail = pngReportMail({ images: [await blankPng(1600, 1200)] });
    await dovecot.append(user, mail.raw);
    await telegram.waitForMessages(reader, 1, 20_000);
    const reportId = (await bot!.app.store.recent(1))[0]!.id;
    const [alert] = await telegram.waitForMessages(admin, 1, 20_000);
    expect(alert!.text).toContain(`Report ${reportId}`);
    expect(alert!.text).toContain(email);
    expect(alert!.text).toContain(mail.subject);
    expect(alert!.text).toContain('sent anyway');
  });

  it('holds a blank screenshot: recorded, not sent, the admin told how to release it', async () => {
    const { admin, user, email, reader } = await adminWorld('hold');
    const mail = pngReportMail({ images: [await blankPng(1600, 1200, '#f7f7f7')] });
    await dovecot.append(user, mail.raw);
    const [alert] = await telegram.waitForMessages(admin, 1, 20_000);
    const report = (await bot!.app.store.recent(1))[0]!;
    expect(alert!.text).toContain(`resend ${report.id}`);
    expect(alert!.text).toContain(email);
    expect(report.status).toBe('forward');
    expect(report.reason).toMatch(/held/);
    expect(await bot!.app.outbox.forReport(report.id)).toEqual([]);
    // a rendered dashboard right after is sent, without an alert
    await dovecot.append(
      user,
      pngReportMail({ images: [(await dashboardPng({ width: 1200, height: 1600 })).png] }).raw,
    );
    await telegram.waitForMessages(reader, 1, 20_000);
    expect(await settled(reader)).toHaveLength(1);
    expect(telegram.messagesIn(admin)).toHaveLength(1);
    // the admin releases the held one as the alert says: the running bot sends it
    const released = await runCli(['resend', String(report.id)], { DATA_DIR: bot!.dataDir });
    expect(released.code).toBe(0);
    const [, held] = await telegram.waitForMessages(reader, 2, 20_000);
    expect(held!.caption).toContain(mail.subject);
  });
});
