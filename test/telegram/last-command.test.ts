/**
 * /last end to end: the whole App (local directory, mailboxes on a real Dovecot, the real grammY
 * client) against the fake Bot API. The latest report of each of the chat's mailboxes comes again by
 * file_id through the outbox; a user no longer subscribed gets nothing of the mailbox; a report whose
 * files are gone, or none at all, is answered in words; spam is answered once and otherwise ignored.
 */
import type { Update } from 'grammy/types';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { LocalDirectory } from '../../src/directory/local/local-directory.js';
import { removeFinishedSpools } from '../../src/store/spool.js';
import { DovecotServer } from '../dovecot/dovecot.js';
import { FakeTelegram, type UserSpec } from '../fakes/telegram/fake-telegram.js';
import { eventually, type RunningBot, removeDir, startBot } from '../support/bot-harness.js';
import { runCli } from '../support/bot-process.js';
import { blankPng, dashboardPng, stripedPng } from '../support/dashboard-images.js';
import { pngReportMail, reportMail } from '../support/simple-mail.js';

let dovecot: DovecotServer;
let telegram: FakeTelegram;
let bot: RunningBot | null = null;
let nextUserId = 810_000_000;

beforeAll(async () => {
  dovecot = await DovecotServer.start({ users: 2 });
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
  telegram.reset();
});

function person(spec: Omit<UserSpec, 'id'> = {}): UserSpec {
  return { id: nextUserId++, first_name: 'Anna', ...spec };
}

async function handled(update: Update): Promise<void> {
  await telegram.waitForConfirmation(update, 10_000);
}

const texts = (chatId: number) =>
  telegram
    .messagesIn(chatId)
    .filter((message) => message.type === 'text')
    .map((message) => message.text ?? '');
const documents = (chatId: number) =>
  telegram.messagesIn(chatId).filter((message) => message.type === 'document');

/** A running bot reading both Dovecot users' mailboxes, each connected. */
async function world(
  env: Record<string, string> = {},
): Promise<{ directory: LocalDirectory; a: string; b: string }> {
  bot = await startBot({
    // from now: the mail earlier tests left in the shared Dovecot is not this bot's
    env: {
      TELEGRAM_BOT_TOKEN: telegram.token,
      TELEGRAM_API_ROOT: telegram.apiRoot,
      IMAP_FIRST_SYNC_LOOKBACK_HOURS: '0',
      ...env,
    },
  });
  const directory = bot.app.directory as LocalDirectory;
  const a = dovecot.address('user1');
  const b = dovecot.address('user2');
  await directory.addMailbox(dovecot.mailbox('user1', { email: a }));
  await directory.addMailbox(dovecot.mailbox('user2', { email: b }));
  for (const email of [a, b]) {
    await eventually(
      () => bot!.app.listeners.listener(email)?.status().lastSyncAt,
      10_000,
      `${email} connected`,
    );
  }
  return { directory, a, b };
}

async function subscriber(
  directory: LocalDirectory,
  mailboxes: string[],
  spec: Omit<UserSpec, 'id'> = {},
): Promise<UserSpec> {
  const user = person(spec);
  await directory.addUser({
    name: user.first_name ?? 'Anna',
    phone: `+7999${String(user.id).slice(-7)}`,
    mailboxes,
    telegramId: user.id,
  });
  // as after /start: the private chat exists, so the bot may write first
  telegram.addPrivateChat(user);
  return user;
}

/** Appends a report to a Dovecot user's mailbox and waits until `chatId` has `count` documents. */
async function arrives(user: 'user1' | 'user2', chatId: number, count: number, subject?: string) {
  await dovecot.append(user, reportMail(subject ? { subject } : {}).raw);
  await eventually(() => documents(chatId).length >= count, 15_000, `${count} documents in ${chatId}`);
  // recorded as sent too: a /last right after would otherwise find the delivery still pending
  await eventually(() => bot!.app.dispatcher!.depth === 0, 15_000, 'the delivery recorded');
}

describe('/last', () => {
  it('sends a user in two mailboxes the latest report of each again, by file_id', async () => {
    const { directory, a, b } = await world();
    const anna = await subscriber(directory, [a, b]);
    await arrives('user1', anna.id, 1, '[Report]  Old A');
    await arrives('user1', anna.id, 2, '[Report]  Sales A');
    await arrives('user2', anna.id, 3, '[Report]  Stock B');
    const uploadsBefore = telegram.callsTo('sendDocument').filter((call) => call.uploadedBytes > 0).length;

    await handled(telegram.injectTextMessage(anna, '/last'));
    const answer = texts(anna.id).at(-1)!;
    expect(answer).toContain(`• ${a}: отправляю «[Report] Sales A» от `);
    expect(answer).toContain(`• ${b}: отправляю «[Report] Stock B» от `);
    await eventually(() => documents(anna.id).length === 5, 15_000, 'both reports again');
    const again = documents(anna.id).slice(3);
    expect(again.map((message) => message.caption?.split('\n')[0]).sort()).toEqual([
      '[Report] Sales A',
      '[Report] Stock B',
    ]);
    // the same sending path: no new upload, the file ids learnt at the first delivery
    expect(telegram.callsTo('sendDocument').filter((call) => call.uploadedBytes > 0)).toHaveLength(
      uploadsBefore,
    );
  });

  it('gives a user nothing of a mailbox they are no longer subscribed to, and an offboarded user nothing at all', async () => {
    const { directory, a, b } = await world();
    const anna = await subscriber(directory, [a, b]);
    const boris = await subscriber(directory, [a]);
    await arrives('user1', anna.id, 1);
    await arrives('user2', anna.id, 2);
    await eventually(() => documents(boris.id).length === 1, 15_000, 'Boris has his report');

    await directory.editUser(String(anna.id), { mailboxes: [b] });
    await directory.removeUser(String(boris.id));
    await handled(telegram.injectTextMessage(anna, '/last'));
    await handled(telegram.injectTextMessage(boris, '/last'));
    expect(texts(anna.id).at(-1)).not.toContain(a);
    expect(texts(boris.id).at(-1)).toBe(
      'Вы не подписаны. Отправьте /start и поделитесь номером телефона, чтобы подписаться.',
    );
    await eventually(() => documents(anna.id).length === 3, 15_000, 'mailbox B again');
    await bot!.app.dispatcher!.idle();
    expect(documents(anna.id).length).toBe(3);
    expect(documents(boris.id).length).toBe(1);
  });

  it('says so when the report is no longer kept, or when none came yet', async () => {
    const { directory, a, b } = await world();
    const john = await subscriber(directory, [a, b], { language_code: 'en' });
    await arrives('user1', john.id, 1, '[Report]  Sales A');
    await bot!.app.dispatcher!.idle();
    // the janitor removes the spool of a report done with it (SPOOL_RETENTION_HOURS)
    expect(await removeFinishedSpools(bot!.app.store, 0, Date.now() + 1000)).toBe(1);

    await handled(telegram.injectTextMessage(john, '/last'));
    const answer = texts(john.id).at(-1)!;
    expect(answer).toMatch(
      new RegExp(`• ${a}: the latest report “\\[Report\\] Sales A” of .+ is no longer kept`),
    );
    expect(answer).toContain(`• ${b}: no report yet`);
    await bot!.app.dispatcher!.idle();
    expect(documents(john.id)).toHaveLength(1);
  });

  it('answers repeated /last once with "wait" and queues one round only', async () => {
    const { directory, a } = await world({ LAST_COMMAND_INTERVAL_SECONDS: '2' });
    const anna = await subscriber(directory, [a]);
    await arrives('user1', anna.id, 1);
    const before = texts(anna.id).length;
    for (let i = 0; i < 6; i++) await handled(telegram.injectTextMessage(anna, '/last'));
    const answers = texts(anna.id).slice(before);
    expect(answers).toHaveLength(2);
    expect(answers[1]).toMatch(/^Подождите, пожалуйста, \d с и попросите снова\.$/);
    await bot!.app.dispatcher!.idle();
    expect(documents(anna.id)).toHaveLength(2);
    const reportId = (await bot!.app.store.recent(1))[0]!.id;
    expect(
      (await bot!.app.outbox.forReport(reportId)).filter((delivery) => delivery.chatId === anna.id),
    ).toHaveLength(2);

    // the interval over, /last works again
    await new Promise((resolve) => setTimeout(resolve, 2100));
    await handled(telegram.injectTextMessage(anna, '/last'));
    await eventually(() => documents(anna.id).length === 3, 15_000, 'third copy');
    expect(
      (await bot!.app.outbox.forReport(reportId)).filter((delivery) => delivery.chatId === anna.id),
    ).toHaveLength(3);
  });

  it('sends a registered group its mailboxes’ latest reports; an unknown group hears nothing', async () => {
    const { directory, a, b } = await world();
    const groupId = telegram.addGroup({ title: 'Sales team', botStatus: 'administrator' });
    await directory.addGroup({ title: 'Sales team', mailboxes: [b], telegramId: groupId });
    const stranger = telegram.addGroup({ title: 'Chatter', botStatus: 'administrator' });
    const anna = person();
    await arrives('user2', groupId, 1, '[Report]  Stock B');
    await dovecot.append('user1', reportMail().raw);

    await handled(telegram.injectTextMessage(anna, '/last@superset_reports_bot', { chatId: groupId }));
    await handled(telegram.injectTextMessage(anna, '/last', { chatId: stranger }));
    await eventually(() => documents(groupId).length === 2, 15_000, 'the group’s report again');
    expect(texts(groupId).at(-1)).toContain(`• ${b}: отправляю «[Report] Stock B»`);
    expect(texts(groupId).at(-1)).not.toContain(a);
    expect(telegram.messagesIn(stranger)).toHaveLength(0);
  });
});

describe('/help and the menu', () => {
  it('lists /last in both languages', async () => {
    await world();
    const anna = person();
    const john = person({ language_code: 'en' });
    await handled(telegram.injectTextMessage(anna, '/help'));
    await handled(telegram.injectTextMessage(john, '/help'));
    expect(texts(anna.id).at(-1)).toContain('/last — последние отчёты ещё раз');
    expect(texts(john.id).at(-1)).toContain('/last — the latest reports again');
    expect(texts(john.id).at(-1)).not.toContain('without sound');
  });
});

describe('/last with screenshots', () => {
  const media = (chatId: number) => telegram.messagesIn(chatId).filter((message) => message.type !== 'text');

  it('skips a report held as a blank screenshot, and gives it once a resend released it', async () => {
    const { directory, a } = await world({ BLANK_SCREENSHOTS: 'hold', LAST_COMMAND_INTERVAL_SECONDS: '0' });
    const anna = await subscriber(directory, [a]);
    const good = pngReportMail({ images: [(await dashboardPng({ width: 1200, height: 1600 })).png] });
    await dovecot.append('user1', good.raw);
    await eventually(() => media(anna.id).length === 1, 15_000, 'the good report');
    const blank = pngReportMail({ images: [await blankPng(1600, 1200)] });
    await dovecot.append('user1', blank.raw);
    await eventually(
      async () => (await bot!.app.store.recent(1))[0]?.subject === blank.subject.replace(/\s+/g, ' '),
      15_000,
      'the blank report recorded',
    );
    const held = (await bot!.app.store.recent(1))[0]!;
    expect(held.held).toBe(true);
    expect(await bot!.app.outbox.forReport(held.id)).toEqual([]);

    await handled(telegram.injectTextMessage(anna, '/last'));
    await eventually(() => media(anna.id).length === 2, 15_000, 'the good report again');
    await bot!.app.dispatcher!.idle();
    expect(media(anna.id).map((message) => message.caption?.split('\n')[0])).toEqual([
      good.subject.replace(/\s+/g, ' '),
      good.subject.replace(/\s+/g, ' '),
    ]);

    // the admin releases the held report to its recipients: from then on it is the latest
    const released = await runCli(['resend', String(held.id)], { DATA_DIR: bot!.dataDir });
    expect(released.code).toBe(0);
    await eventually(() => media(anna.id).length === 3, 15_000, 'the released report');
    expect((await bot!.app.store.report(held.id))!.held).toBe(false);
    await eventually(() => bot!.app.dispatcher!.depth === 0, 15_000, 'the resend recorded as sent');
    await handled(telegram.injectTextMessage(anna, '/last'));
    await eventually(() => media(anna.id).length === 4, 15_000, 'the released report by /last');
    expect(media(anna.id)[3]!.caption).toContain(blank.subject.replace(/\s+/g, ' '));
  });

  it('sends a chat that wants tiles the tiles again, not the tall original', async () => {
    const { directory, a } = await world({ TALL_IMAGE_MODE: 'tiles' });
    const anna = await subscriber(directory, [a]);
    // 400 px wide, 3000 tall: three tiles of at most 1200 rows, cut in the gaps every 500 rows
    const gaps = [484, 984, 1484, 1984, 2484];
    await dovecot.append('user1', pngReportMail({ images: [await stripedPng(400, 3000, gaps)] }).raw);
    await eventually(() => media(anna.id).length === 3, 15_000, 'the tiles');
    await bot!.app.dispatcher!.idle();
    expect(media(anna.id).map((message) => message.type)).toEqual(['photo', 'photo', 'photo']);

    await handled(telegram.injectTextMessage(anna, '/last'));
    await eventually(() => media(anna.id).length >= 6, 15_000, 'the tiles again');
    await bot!.app.dispatcher!.idle();
    expect(media(anna.id).map((message) => message.type)).toEqual(Array(6).fill('photo'));
  });
});
