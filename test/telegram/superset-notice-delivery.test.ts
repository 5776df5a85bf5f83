/**
 * SUPERSET_NOTICES=subscribers end to end: a notice mail on a real Dovecot becomes, through the
 * outbox and the real grammY client against the fake Bot API, one short text per recipient in their
 * language (through a Telegram outage, and not again for the same mail read twice), and one line in
 * the admin chat; a retry run ended by the report is mentioned there.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { LocalDirectory } from '../../src/directory/local/local-directory.js';
import { DovecotServer } from '../dovecot/dovecot.js';
import { FakeTelegram, faults, type UserSpec } from '../fakes/telegram/fake-telegram.js';
import { eventually, type RunningBot, removeDir, startBot } from '../support/bot-harness.js';
import { reportMail } from '../support/simple-mail.js';
import { errorHtml, noticeMail, retryHtml } from '../support/superset-notice-mail.js';

let dovecot: DovecotServer;
let telegram: FakeTelegram;
let bot: RunningBot | null = null;
let nextUserId = 820_000_000;

beforeAll(async () => {
  dovecot = await DovecotServer.start({ users: 1 });
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

const texts = (chatId: number) =>
  telegram
    .messagesIn(chatId)
    .filter((message) => message.type === 'text')
    .map((message) => message.text ?? '');

describe('SUPERSET_NOTICES=subscribers', () => {
  it('tells each recipient once, in their language, through an outage; the admin chat hears the notice and the recovery', async () => {
    const adminChat = telegram.addGroup({ title: 'Admins', botStatus: 'administrator' });
    bot = await startBot({
      env: {
        TELEGRAM_BOT_TOKEN: telegram.token,
        TELEGRAM_API_ROOT: telegram.apiRoot,
        IMAP_FIRST_SYNC_LOOKBACK_HOURS: '0',
        SUPERSET_NOTICES: 'subscribers',
        ADMIN_CHAT_ID: String(adminChat),
      },
    });
    const directory = bot.app.directory as LocalDirectory;
    const email = dovecot.address('user1');
    await directory.addMailbox(dovecot.mailbox('user1', { email }));
    const people: UserSpec[] = [
      { id: nextUserId++, first_name: 'Anna' },
      { id: nextUserId++, first_name: 'John', language_code: 'en' },
    ];
    for (const [index, user] of people.entries()) {
      await directory.addUser({
        name: user.first_name ?? 'Reader',
        phone: `+7999555000${index}`,
        mailboxes: [email],
        telegramId: user.id,
      });
      telegram.addPrivateChat(user);
      // the language a chat is spoken to in is remembered from its /start
      bot.app.languages.set(user.id, user.language_code === 'en' ? 'en' : 'ru');
    }
    const [anna, john] = people as [UserSpec, UserSpec];
    await eventually(
      () => bot!.app.listeners.listener(email)?.status().lastSyncAt,
      10_000,
      'mailbox connected',
    );

    // Telegram answers Anna's chat with gateway errors for a while
    telegram.failNext(3, faults.badGateway(), { method: 'sendMessage', chatId: anna.id });
    const notice = noticeMail('[Report]  Weekly sales', errorHtml());
    await dovecot.append('user1', notice);
    await eventually(() => texts(anna.id).length === 1 && texts(john.id).length === 1, 30_000, 'both told');
    expect(texts(anna.id)).toEqual(['⚠️ Отчёт «Weekly sales» сегодня не сформирован.']);
    expect(texts(john.id)).toEqual(['⚠️ The report “Weekly sales” was not produced today.']);
    await eventually(
      () => texts(adminChat).some((text) => text.includes('Weekly sales')),
      10_000,
      'admin told',
    );
    expect(texts(adminChat)).toContain(
      `⚠️ Superset could not produce report "Weekly sales" in ${email}; 2 recipient chats told it was not produced.`,
    );

    // the same mail again (a copy in the folder): recognised as recorded, nobody told twice
    await dovecot.append('user1', notice);
    // a retry run, then the report itself
    await dovecot.append('user1', noticeMail('Report Retry [1 of 3]: Daily stock: Board', retryHtml(1, 3)));
    await dovecot.append('user1', reportMail({ subject: '[Report]  Daily stock: Board' }).raw);
    await eventually(
      () => telegram.messagesIn(john.id).some((message) => message.type === 'document'),
      15_000,
      'the report delivered',
    );
    await eventually(
      () => texts(adminChat).some((text) => text.includes('delivered after 1 retry')),
      10_000,
      'recovery told',
    );
    await bot.app.dispatcher!.idle();
    expect(texts(anna.id)).toHaveLength(1);
    expect(texts(john.id)).toHaveLength(1);
    expect(
      texts(adminChat).filter((text) => text.includes('Superset is retrying report "Daily stock: Board"')),
    ).toHaveLength(1);
  });
});
