/**
 * What keeps a queued delivery honest until its last message: the directory of now decides every send
 * (issue 11 part 1), a half-done delivery keeps the plan it started with (issue 10 part 7), a group that
 * refuses photos or documents gets what it allows (issue 10 part 7), and a delivery past
 * DELIVERY_MAX_AGE_HOURS is given up as stale.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { LocalDirectory } from '../../src/directory/local/local-directory.js';
import { DovecotServer } from '../dovecot/dovecot.js';
import { FakeTelegram, faults } from '../fakes/telegram/fake-telegram.js';
import { eventually, type RunningBot, removeDir, startBot, tempDataDir } from '../support/bot-harness.js';
import { subscribeReaders } from '../support/readers.js';
import { pngReportMail, reportMail } from '../support/simple-mail.js';

let dovecot: DovecotServer;
let telegram: FakeTelegram;
let bot: RunningBot | null = null;
let nextUser = 0;
let nextChat = 6_100_000;

beforeAll(async () => {
  dovecot = await DovecotServer.start({ users: 6 });
  telegram = await FakeTelegram.start({ rateLimits: false });
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
  telegram.clearFaults();
});

function directory(): LocalDirectory {
  return bot!.app.directory as LocalDirectory;
}

async function world(env: Record<string, string> = {}, dataDir?: string) {
  bot = await startBot({
    ...(dataDir ? { dataDir } : {}),
    env: { TELEGRAM_BOT_TOKEN: telegram.token, TELEGRAM_API_ROOT: telegram.apiRoot, ...env },
  });
  nextUser++;
  const user = `user${nextUser}`;
  const email = dovecot.address(user);
  await directory().addMailbox(dovecot.mailbox(user));
  await eventually(
    () => bot!.app.listeners.listener(email)?.status().lastSyncAt,
    10_000,
    'mailbox connected',
  );
  return { user, email };
}

async function readers(email: string, count: number): Promise<number[]> {
  const ids = await subscribeReaders(telegram, directory(), email, count, { firstChatId: nextChat });
  nextChat += count;
  return ids;
}

const userKey = (chatId: number) =>
  directory()
    .snapshot()
    .users.find((user) => user.telegramId === chatId)!.key;

describe('the directory of now decides every send', () => {
  it('cancels queued deliveries of users removed, paused or re-keyed while they waited on a 429', async () => {
    const { user, email } = await world();
    const [kept, removed, paused, rekeyed] = (await readers(email, 4)) as [number, number, number, number];
    for (const chatId of [removed, paused, rekeyed]) {
      telegram.failNext(1, faults.tooManyRequests(4), { method: 'sendDocument', chatId });
    }
    const mail = reportMail();
    await dovecot.append(user, mail.raw);
    await telegram.waitForMessages(kept, 1, 15_000);
    await eventually(
      () =>
        telegram.calls.filter(
          (call) => call.status === 429 && [removed, paused, rekeyed].includes(Number(call.chatId)),
        ).length === 3,
      10_000,
      'the three 429 answers',
    );
    // while they wait: offboarded, paused by the admin, Telegram ID changed to another chat
    await directory().removeUser(String(removed));
    await directory().setUserActive(userKey(paused), false);
    const other = nextChat++;
    telegram.addPrivateChat({ id: other, first_name: 'Someone else' });
    await directory().setUserTelegramId(userKey(rekeyed), other);

    await eventually(() => bot!.app.dispatcher!.depth === 0, 15_000, 'an empty outbox');
    for (const chatId of [removed, paused, rekeyed, other]) expect(telegram.messagesIn(chatId)).toEqual([]);
    expect(telegram.messagesIn(kept)).toHaveLength(1);
    const deliveries = await bot!.app.outbox.forReport((await bot!.app.store.recent(1))[0]!.id);
    const byChat = new Map(deliveries.map((delivery) => [delivery.chatId, delivery]));
    expect(byChat.get(kept)?.state).toBe('sent');
    expect(byChat.get(removed)).toMatchObject({
      state: 'cancelled',
      lastError: expect.stringContaining('removed'),
    });
    expect(byChat.get(paused)).toMatchObject({
      state: 'cancelled',
      lastError: expect.stringContaining('inactive'),
    });
    expect(byChat.get(rekeyed)).toMatchObject({
      state: 'cancelled',
      lastError: expect.stringContaining('Telegram ID changed'),
    });
  });
});

describe('a half-done delivery keeps its plan', () => {
  it('sends the rest of what it started after a restart with another PHOTO_MAX_ASPECT_RATIO', async () => {
    const dataDir = tempDataDir();
    // MEDIA_MODE=both: a 1000×400 screenshot goes as a photo, then as a document
    const { user, email } = await world({ MEDIA_MODE: 'both' }, dataDir);
    const [reader] = (await readers(email, 1)) as [number];
    telegram.failNext(1, faults.tooManyRequests(3), { method: 'sendDocument', chatId: reader });
    await dovecot.append(user, pngReportMail({ screenshots: [{ width: 1000, height: 400 }] }).raw);
    await eventually(
      () => telegram.calls.some((call) => call.status === 429 && call.chatId === reader),
      15_000,
      'the photo sent, the document told to wait',
    );
    await bot!.stop();
    expect(telegram.messagesIn(reader).map((message) => message.type)).toEqual(['photo']);
    // now the screenshot is too wide for a photo: planned afresh, the delivery would be one document,
    // already "sent" as its first step
    bot = await startBot({
      dataDir,
      env: {
        TELEGRAM_BOT_TOKEN: telegram.token,
        TELEGRAM_API_ROOT: telegram.apiRoot,
        MEDIA_MODE: 'document',
        PHOTO_MAX_ASPECT_RATIO: '2',
      },
    });
    await telegram.waitForMessages(reader, 2, 15_000);
    await eventually(() => bot!.app.dispatcher!.depth === 0, 10_000, 'an empty outbox');
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(telegram.messagesIn(reader).map((message) => message.type)).toEqual(['photo', 'document']);
  });
});

describe('a group that refuses photos or documents', () => {
  it('gets documents instead of photos, a text naming the files when it refuses files, and stays active', async () => {
    const admin = nextChat++;
    telegram.addPrivateChat({ id: admin, first_name: 'Admins' });
    const { user, email } = await world({ ADMIN_CHAT_ID: String(admin) });
    const noPhotos = telegram.addGroup({ title: 'No photos', botStatus: 'member' });
    telegram.setChatPermissions(noPhotos, { can_send_photos: false });
    const noFiles = telegram.addGroup({ title: 'No files', botStatus: 'member' });
    telegram.setChatPermissions(noFiles, { can_send_photos: false, can_send_documents: false });
    await directory().addGroup({ title: 'No photos', mailboxes: [email], telegramId: noPhotos });
    await directory().addGroup({ title: 'No files', mailboxes: [email], telegramId: noFiles });
    const mail = pngReportMail({
      screenshots: [
        { width: 800, height: 600 },
        { width: 800, height: 500 },
      ],
    });
    await dovecot.append(user, mail.raw);
    const documents = await telegram.waitForMessages(noPhotos, 2, 15_000);
    expect(documents.map((message) => message.type)).toEqual(['document', 'document']);
    const [text] = await telegram.waitForMessages(noFiles, 1, 15_000);
    expect(text!.text).toContain(mail.subject);
    for (const file of (await bot!.app.store.recent(1))[0]!.files)
      expect(text!.text).toContain(file.filename);
    await eventually(() => bot!.app.dispatcher!.depth === 0, 10_000, 'an empty outbox');
    expect(telegram.messagesIn(noFiles)).toHaveLength(1);
    expect(await bot!.app.outbox.countByState()).toMatchObject({ sent: 2, failed: 0, cancelled: 0 });
    const groups = directory().snapshot().groups;
    expect(groups.every((group) => group.active)).toBe(true);
    // No files: photos refused first (then documents), then documents (then a text)
    const told = (group: string, right: string) =>
      telegram
        .messagesIn(admin)
        .some((message) => message.text?.includes(`"${group}"`) && message.text.includes(`send ${right}`));
    await eventually(
      () => told('No photos', 'photos') && told('No files', 'photos') && told('No files', 'documents'),
      20_000,
      'the admin chat told which right is missing where',
    );
  });
});

describe('a group that refuses files, report after report', () => {
  it('tells the admin chat of each report that went as a text naming the files', async () => {
    const admin = nextChat++;
    telegram.addPrivateChat({ id: admin, first_name: 'Admins' });
    const { user, email } = await world({ ADMIN_CHAT_ID: String(admin) });
    const noFiles = telegram.addGroup({ title: 'Still no files', botStatus: 'member' });
    telegram.setChatPermissions(noFiles, { can_send_photos: false, can_send_documents: false });
    await directory().addGroup({ title: 'Still no files', mailboxes: [email], telegramId: noFiles });
    await dovecot.append(user, reportMail({ subject: 'First report' }).raw);
    await telegram.waitForMessages(noFiles, 1, 15_000);
    await dovecot.append(user, reportMail({ subject: 'Second report' }).raw);
    await telegram.waitForMessages(noFiles, 2, 15_000);
    const reportIds = (await bot!.app.store.recent(2)).map((report) => report.id);
    expect(reportIds).toHaveLength(2);
    const toldOf = (reportId: number) =>
      telegram
        .messagesIn(admin)
        .some(
          (message) =>
            message.text?.includes('"Still no files"') &&
            message.text.includes(`report ${reportId} went as a text naming the files`),
        );
    await eventually(
      () => reportIds.every(toldOf),
      20_000,
      'the admin chat told of each report sent as a text',
    );
  });
});

describe('a stale delivery', () => {
  it('is given up after DELIVERY_MAX_AGE_HOURS, and the admin chat is told', async () => {
    const admin = nextChat++;
    telegram.addPrivateChat({ id: admin, first_name: 'Admins' });
    const { user, email } = await world({ ADMIN_CHAT_ID: String(admin) });
    const [reader] = (await readers(email, 1)) as [number];
    telegram.failNext(1, faults.tooManyRequests(2), { method: 'sendDocument', chatId: reader });
    await dovecot.append(user, reportMail().raw);
    await eventually(
      () => telegram.calls.some((call) => call.status === 429 && call.chatId === reader),
      15_000,
      'the 429',
    );
    // the report was queued a day and a minute ago
    bot!.app.db
      .prepare('UPDATE deliveries SET created_at = ?')
      .run(new Date(Date.now() - (24 * 60 + 1) * 60_000).toISOString());
    await eventually(() => bot!.app.dispatcher!.depth === 0, 10_000, 'an empty outbox');
    expect(telegram.messagesIn(reader)).toEqual([]);
    const [delivery] = await bot!.app.outbox.forReport((await bot!.app.store.recent(1))[0]!.id);
    expect(delivery).toMatchObject({ state: 'failed', lastError: expect.stringContaining('stale') });
    await eventually(
      () => telegram.messagesIn(admin).some((message) => message.text?.includes('is now stale')),
      10_000,
      'the admin alert',
    );
  });
});
