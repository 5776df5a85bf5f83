/**
 * Delivery end to end: a mail appended to a real Dovecot mailbox reaches the subscribed Telegram chats
 * of the fake Bot API, through the real grammY client, at Telegram's limits and through its errors.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { LocalDirectory } from '../../src/directory/local/local-directory.js';
import { DovecotServer } from '../dovecot/dovecot.js';
import { FakeTelegram, faults } from '../fakes/telegram/fake-telegram.js';
import { eventually, type RunningBot, removeDir, startBot } from '../support/bot-harness.js';
import { subscribeReaders } from '../support/readers.js';
import { pngReportMail, reportMail } from '../support/simple-mail.js';

let dovecot: DovecotServer;
let telegram: FakeTelegram;
let bot: RunningBot | null = null;
let nextUser = 0;
let nextChat = 5_000_000;

beforeAll(async () => {
  dovecot = await DovecotServer.start({ users: 12 });
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
  telegram.clearFaults();
  telegram.setRateLimits({});
});

function directory(): LocalDirectory {
  return bot!.app.directory as LocalDirectory;
}

/** A bot with one mailbox on a fresh Dovecot user, ready to receive. */
async function world(env: Record<string, string> = {}) {
  bot = await startBot({
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

async function addUsers(email: string, count: number): Promise<number[]> {
  const ids = await subscribeReaders(telegram, directory(), email, count, { firstChatId: nextChat });
  nextChat += count;
  return ids;
}

describe('delivery', () => {
  it('sends a PDF report to exactly the subscribed chats, with the subject and link as caption', async () => {
    const { user, email } = await world();
    const readers = await addUsers(email, 2);
    // subscribed to another mailbox only: must get nothing
    const other = (
      await (async () => {
        const otherEmail = dovecot.address('user12');
        await directory().addMailbox(dovecot.mailbox('user12'));
        return await addUsers(otherEmail, 1);
      })()
    )[0]!;
    const mail = reportMail();
    await dovecot.append(user, mail.raw);
    for (const chatId of readers) {
      const [message] = await telegram.waitForMessages(chatId, 1, 15_000);
      expect(message!.type).toBe('document');
      expect(message!.file_name).toMatch(/^Sales \d+\.pdf$/);
      expect(message!.caption).toBe(`${mail.subject}\nОткрыть в Superset`);
      expect(message!.caption_entities).toEqual([
        expect.objectContaining({ type: 'text_link', url: 'https://bi.example.com/superset/dashboard/1/' }),
      ]);
    }
    expect(telegram.messagesIn(other)).toHaveLength(0);
  });

  it('sends screenshots as one photo album, a tall one as a document (TALL_IMAGE_MODE=document)', async () => {
    const { user, email } = await world({ TALL_IMAGE_MODE: 'document' });
    const [reader] = await addUsers(email, 1);
    const mail = pngReportMail({
      screenshots: [
        { width: 1600, height: 1200 },
        { width: 1600, height: 1000 },
      ],
    });
    await dovecot.append(user, mail.raw);
    const album = await telegram.waitForMessages(reader!, 2, 15_000);
    expect(album.map((message) => message.type)).toEqual(['photo', 'photo']);
    expect(album[0]!.media_group_id).toBeDefined();
    expect(album[0]!.media_group_id).toBe(album[1]!.media_group_id);
    expect(album[0]!.caption).toContain(mail.subject);
    expect(album[1]!.caption).toBeUndefined();

    const tall = pngReportMail({ screenshots: [{ width: 1600, height: 9000 }] });
    await dovecot.append(user, tall.raw);
    const all = await telegram.waitForMessages(reader!, 3, 15_000);
    expect(all[2]!.type).toBe('document');
    expect(all[2]!.file_name).toMatch(/\.png$/);
    expect(all[2]!.caption).toContain(tall.subject);
  });

  it('uploads each file once when fanning out to 100 chats', async () => {
    const { user, email } = await world();
    const readers = await addUsers(email, 100);
    telegram.reset();
    const mail = reportMail();
    await dovecot.append(user, mail.raw);
    await eventually(
      () => readers.every((chatId) => telegram.messagesIn(chatId).length === 1),
      30_000,
      'fan-out',
    );
    const uploads = telegram.calls.filter((call) => call.files.length > 0);
    expect(uploads).toHaveLength(1);
    expect(telegram.totals().uploadedBytes).toBeLessThan(mail.pdf!.length * 1.1 + 2048);
    const fileIds = new Set(readers.map((chatId) => telegram.messagesIn(chatId)[0]!.file_unique_id));
    expect(fileIds.size).toBe(1);
  });

  it('delivers everything when a fifth of the calls fail with 429, 5xx or dropped connections', async () => {
    const { user, email } = await world();
    const readers = await addUsers(email, 20);
    telegram.failRatio(
      0.2,
      [
        faults.tooManyRequests(1),
        faults.internalServerError(),
        faults.badGateway(),
        { kind: 'dropConnection' },
      ],
      42,
      { method: ['sendDocument', 'sendMediaGroup', 'sendPhoto'] },
    );
    const mail = reportMail();
    await dovecot.append(user, mail.raw);
    await eventually(
      () => readers.every((chatId) => telegram.messagesIn(chatId).length >= 1),
      45_000,
      'all delivered',
    );
    for (const chatId of readers) expect(telegram.messagesIn(chatId)).toHaveLength(1);
    const failed = telegram.calls.filter((call) => call.status !== 200);
    expect(failed.length).toBeGreaterThan(0);
    // the last answer may still be on its way back to the bot
    await eventually(
      async () =>
        (await bot!.app.outbox.forReport((await bot!.app.store.recent(1))[0]!.id)).every(
          (delivery) => delivery.state === 'sent',
        ),
      10_000,
      'every delivery recorded as sent',
    );
  });

  it('follows a group to its new supergroup id and stores it', async () => {
    const { user, email } = await world();
    const groupId = telegram.addGroup({ title: 'BI team', botStatus: 'administrator' });
    await directory().addGroup({ title: 'BI team', mailboxes: [email], telegramId: groupId });
    const supergroupId = telegram.migrateGroup(groupId);
    await dovecot.append(user, reportMail().raw);
    const [message] = await telegram.waitForMessages(supergroupId, 1, 15_000);
    expect(message!.type).toBe('document');
    expect(telegram.messagesIn(groupId)).toHaveLength(0);
    const group = directory()
      .snapshot()
      .groups.find((entry) => entry.title === 'BI team')!;
    expect(group.telegramId).toBe(supergroupId);
    expect(group.locked).toBe(true);
  });

  it('marks a user who blocked the bot inactive and still delivers to the others', async () => {
    const { user, email } = await world();
    const [blocker, reader] = await addUsers(email, 2);
    telegram.blockBot(blocker!);
    await dovecot.append(user, reportMail().raw);
    await telegram.waitForMessages(reader!, 1, 15_000);
    await eventually(
      () =>
        directory()
          .snapshot()
          .users.find((entry) => entry.telegramId === blocker)?.active === false,
      10_000,
      'blocker deactivated',
    );
    expect(bot!.logs.matching('cannot receive reports any more').length).toBeGreaterThan(0);
    // the next report does not even try the blocked chat
    const before = telegram.calls.filter((call) => call.chatId === blocker).length;
    await dovecot.append(user, reportMail().raw);
    await telegram.waitForMessages(reader!, 2, 15_000);
    expect(telegram.calls.filter((call) => call.chatId === blocker)).toHaveLength(before);
  });

  it('uploads again once when Telegram refuses a stored file_id', async () => {
    const { user, email } = await world();
    const [first, second] = await addUsers(email, 2);
    const screenshot = { width: 800, height: 600, rgb: [1, 2, 3] as [number, number, number] };
    await dovecot.append(user, pngReportMail({ screenshots: [screenshot] }).raw);
    await telegram.waitForMessages(first!, 1, 15_000);
    await telegram.waitForMessages(second!, 1, 15_000);
    // the fake logs a call after answering it: let the last one land before clearing the log
    await new Promise((resolve) => setTimeout(resolve, 300));
    telegram.revokeAllFileIds();
    telegram.reset();
    // the same screenshot again (an unchanged dashboard): the cached file_id is refused
    await dovecot.append(user, pngReportMail({ screenshots: [screenshot], subject: 'Again' }).raw);
    const [message] = await telegram.waitForMessages(first!, 1, 15_000);
    await telegram.waitForMessages(second!, 1, 15_000);
    expect(message!.type).toBe('photo');
    const photoCalls = await eventually(
      () => telegram.callsTo('sendPhoto').length >= 3 && telegram.callsTo('sendPhoto'),
    );
    expect(photoCalls[0]!.status).toBe(400);
    expect(photoCalls[0]!.errorDescription).toMatch(/wrong file identifier/);
    // one refused file_id, one upload, then the new file_id for the second chat
    expect(photoCalls.filter((call) => call.files.length > 0)).toHaveLength(1);
    expect(photoCalls).toHaveLength(3);
  });

  it('posts to the configured forum topic', async () => {
    const { user, email } = await world();
    const groupId = telegram.addGroup({
      title: 'Forum',
      type: 'supergroup',
      isForum: true,
      topicIds: [77],
      botStatus: 'administrator',
    });
    await directory().addGroup({ title: 'Forum', mailboxes: [email], telegramId: groupId, topicId: 77 });
    await dovecot.append(user, reportMail().raw);
    const [message] = await telegram.waitForMessages(groupId, 1, 15_000);
    expect(message!.message_thread_id).toBe(77);
  });

  it('creates no deliveries for mail without files or from a sender that is not allowed', async () => {
    const { user, email } = await world();
    const [reader] = await addUsers(email, 1);
    await dovecot.append(user, reportMail({ noFile: true }).raw);
    await eventually(
      async () => (await bot!.app.store.recent(1))[0]?.status === 'no_files',
      10_000,
      'no-file report',
    );
    expect(await bot!.app.outbox.forReport((await bot!.app.store.recent(1))[0]!.id)).toHaveLength(0);

    const guarded = dovecot.address('user11');
    await directory().addMailbox(dovecot.mailbox('user11', { allowFrom: ['@bi.example.com'] }));
    const [guardedReader] = await addUsers(guarded, 1);
    await eventually(
      () => bot!.app.listeners.listener(guarded)?.status().lastSyncAt,
      10_000,
      'guarded mailbox',
    );
    await dovecot.append('user11', reportMail({ from: 'attacker@evil.example' }).raw);
    await eventually(
      async () => (await bot!.app.store.recent(1))[0]?.status === 'rejected_sender',
      10_000,
      'rejected report',
    );
    expect(await bot!.app.outbox.forReport((await bot!.app.store.recent(1))[0]!.id)).toHaveLength(0);
    await dovecot.append('user11', reportMail({ from: 'superset@bi.example.com' }).raw);
    await telegram.waitForMessages(guardedReader!, 1, 15_000);
    expect(telegram.messagesIn(reader!)).toHaveLength(0);
    expect(telegram.messagesIn(guardedReader!)).toHaveLength(1);
  });

  it('sends a short notice instead of a file over the upload limit', async () => {
    const { user, email } = await world({ MAX_FILE_MB: '1' });
    const [reader] = await addUsers(email, 1);
    // an uncompressed 800×600 PNG is about 1.4 MB
    const mail = pngReportMail({
      screenshots: [{ width: 800, height: 600, rgb: [9, 9, 9] }],
      uncompressed: true,
    });
    await dovecot.append(user, mail.raw);
    const [notice] = await telegram.waitForMessages(reader!, 1, 15_000);
    expect(notice!.type).toBe('text');
    expect(notice!.text).toContain(mail.subject);
    expect(notice!.text).toMatch(/1,\d МБ/);
  });

  it('falls back to a plain caption when Telegram refuses the caption entities', async () => {
    const { user, email } = await world();
    const [reader] = await addUsers(email, 1);
    telegram.failNext(1, faults.badRequest("can't parse entities: unsupported URL"), {
      method: 'sendDocument',
    });
    const mail = reportMail();
    await dovecot.append(user, mail.raw);
    const [message] = await telegram.waitForMessages(reader!, 1, 15_000);
    expect(message!.caption).toBe(`${mail.subject}\nhttps://bi.example.com/superset/dashboard/1/`);
    expect(message!.caption_entities ?? []).toEqual([]);
  });

  it('marks a delivery failed after the attempt limit, with the reason, and tells the admin chat', async () => {
    const admin = nextChat++;
    telegram.addPrivateChat({ id: admin, first_name: 'Admins' });
    const { user, email } = await world({ DELIVERY_MAX_ATTEMPTS: '2', ADMIN_CHAT_ID: String(admin) });
    const [reader] = await addUsers(email, 1);
    telegram.failNext(5, faults.badRequest('something Telegram does not like'), {
      method: 'sendDocument',
      chatId: reader,
    });
    await dovecot.append(user, reportMail().raw);
    const alert = await eventually(
      () => telegram.messagesIn(admin).find((message) => message.text?.includes('could not be delivered')),
      20_000,
      'the admin alert',
    );
    expect(alert.text).toContain('something Telegram does not like');
    const [delivery] = await bot!.app.outbox.forReport((await bot!.app.store.recent(1))[0]!.id);
    expect(delivery).toMatchObject({
      state: 'failed',
      attempts: 2,
      lastError: expect.stringContaining('something Telegram does not like'),
    });
  });
});
