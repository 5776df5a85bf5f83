/**
 * The chat commands end to end: /status, /stop, /start again, /help and anything else, through the fake
 * Bot API into the whole App (local directory, mailboxes on a real Dovecot), and the command menu that
 * publishCommands registers.
 */
import { Api } from 'grammy';
import type { Update } from 'grammy/types';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { DirectoryUnavailableError } from '../../src/directory/directory.js';
import type { LocalDirectory } from '../../src/directory/local/local-directory.js';
import { publishCommands } from '../../src/telegram/chat-handlers.js';
import { formatMailboxList, MAILBOX_LIST_LIMIT } from '../../src/texts/mailbox-list.js';
import { DovecotServer } from '../dovecot/dovecot.js';
import { FakeTelegram, faults, type UserSpec } from '../fakes/telegram/fake-telegram.js';
import { eventually, type RunningBot, removeDir, startBot } from '../support/bot-harness.js';
import { reportMail } from '../support/simple-mail.js';

let dovecot: DovecotServer;
let telegram: FakeTelegram;
let bot: RunningBot | null = null;
let nextUserId = 800_000_000;

beforeAll(async () => {
  dovecot = await DovecotServer.start({ users: 2 });
  telegram = await FakeTelegram.start({ rateLimits: false });
});

afterAll(async () => {
  await telegram?.stop();
  await dovecot?.stop();
});

afterEach(async () => {
  vi.restoreAllMocks();
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

function lastText(chatId: number): string {
  const messages = telegram.messagesIn(chatId);
  expect(messages.length, `messages in ${chatId}`).toBeGreaterThan(0);
  return messages[messages.length - 1]!.text ?? '';
}

/** A running bot with two mailboxes; `login` picks the Dovecot user the first one reads. */
async function world(login = 'user1'): Promise<LocalDirectory> {
  bot = await startBot({ env: { TELEGRAM_BOT_TOKEN: telegram.token, TELEGRAM_API_ROOT: telegram.apiRoot } });
  const directory = bot.app.directory as LocalDirectory;
  for (const [email, user] of [
    [dovecot.address(login), login],
    ['finance@example.com', 'user1'],
  ] as const) {
    await directory.addMailbox(dovecot.mailbox(user, { email }));
  }
  return directory;
}

/** A subscriber already linked to the Telegram account (as after sharing the phone). */
async function subscriber(directory: LocalDirectory, spec: Omit<UserSpec, 'id'> = {}, mailboxes?: string[]) {
  const user = person(spec);
  await directory.addUser({
    name: user.first_name ?? 'Anna',
    phone: `+7999${String(user.id).slice(-7)}`,
    mailboxes: mailboxes ?? [dovecot.address('user1'), 'finance@example.com'],
    telegramId: user.id,
  });
  return user;
}

const linkedTo = (telegramId: number) =>
  bot!.app.directory.snapshot().users.filter((user) => user.telegramId === telegramId);

describe('publishCommands', () => {
  it('registers /start, /status, /last, /stop and /help in Russian by default and in English for English clients', async () => {
    await publishCommands(new Api(telegram.token, { apiRoot: telegram.apiRoot }));
    const names = (language?: string) =>
      telegram.commandsFor(undefined, language)?.map((entry) => entry.command);
    expect(names()).toEqual(['start', 'status', 'last', 'stop', 'help']);
    expect(names('ru')).toEqual(['start', 'status', 'last', 'stop', 'help']);
    expect(names('en')).toEqual(['start', 'status', 'last', 'stop', 'help']);
    expect(telegram.commandsFor(undefined, 'ru')?.[0]?.description).toBe('Подписаться на отчёты');
    expect(telegram.commandsFor()?.[0]?.description).toBe('Подписаться на отчёты');
    expect(telegram.commandsFor(undefined, 'en')?.map((entry) => entry.description)).toEqual([
      'Subscribe to reports',
      'What I receive',
      'The latest reports again',
      'Unsubscribe from reports',
      'Help',
    ]);
    // in groups, only what is answered there
    const groups = { type: 'all_group_chats' } as const;
    expect(telegram.commandsFor(groups)?.map((entry) => entry.command)).toEqual(['last']);
    expect(telegram.commandsFor(groups, 'ru')).toEqual([
      { command: 'last', description: 'Последние отчёты ещё раз' },
    ]);
    expect(telegram.commandsFor(groups, 'en')).toEqual([
      { command: 'last', description: 'The latest reports again' },
    ]);
  });
});

describe('/status', () => {
  it('tells someone not subscribed how to subscribe', async () => {
    await world();
    const stranger = person();
    await handled(telegram.injectTextMessage(stranger, '/status'));
    expect(lastText(stranger.id)).toBe(
      'Вы не подписаны. Отправьте /start и поделитесь номером телефона, чтобы подписаться.',
    );
  });

  it('lists the mailboxes a subscriber receives, in their language', async () => {
    const directory = await world();
    const john = await subscriber(directory, { first_name: 'John', language_code: 'en-US' });
    await handled(telegram.injectTextMessage(john, '/status'));
    expect(lastText(john.id)).toBe(
      `You are subscribed. Reports come from:\n• finance@example.com\n• ${dovecot.address('user1')}`,
    );
    expect(await bot!.app.languages.get(john.id)).toBe('en');
  });

  it('says a paused subscription is paused', async () => {
    const directory = await world();
    const anna = await subscriber(directory);
    await directory.setUserActive(linkedTo(anna.id)[0]!.key, false);
    await handled(telegram.injectTextMessage(anna, '/status'));
    expect(lastText(anna.id)).toContain('Ваша подписка приостановлена');
  });

  it('marks switched-off mailboxes and shortens long lists', () => {
    const words = { paused: 'paused', more: (count: number) => `… and ${count} more` };
    expect(
      formatMailboxList(
        [
          { email: 'a@example.com', active: true },
          { email: 'b@example.com', active: false },
        ],
        words,
      ),
    ).toBe('• a@example.com\n• b@example.com (paused)');
    const many = Array.from({ length: MAILBOX_LIST_LIMIT + 5 }, (_, index) => ({
      email: `m${index}@example.com`,
      active: true,
    }));
    const lines = formatMailboxList(many, words).split('\n');
    expect(lines).toHaveLength(MAILBOX_LIST_LIMIT + 1);
    expect(lines.at(-1)).toBe('… and 5 more');
  });
});

describe('/stop', () => {
  it('unsubscribes, and /start then subscribes again through the phone', async () => {
    const directory = await world();
    const anna = await subscriber(directory);
    const phone = linkedTo(anna.id)[0]!.phone;
    await handled(telegram.injectTextMessage(anna, '/stop'));
    expect(linkedTo(anna.id)).toHaveLength(0);
    const answer = telegram.messagesIn(anna.id).at(-1)!;
    expect(answer.text).toBe(
      'Вы отписались, отчёты больше не будут приходить. Чтобы подписаться снова, отправьте /start.',
    );
    expect(answer.reply_markup).toEqual({ remove_keyboard: true });

    await handled(telegram.injectTextMessage(anna, '/status'));
    expect(lastText(anna.id)).toContain('Вы не подписаны');
    await handled(telegram.injectTextMessage(anna, '/start'));
    expect(telegram.messagesIn(anna.id).at(-1)!.reply_markup).toMatchObject({
      keyboard: [[{ request_contact: true }]],
    });
    await handled(telegram.injectContact(anna, { phone_number: phone.slice(1) }));
    expect(linkedTo(anna.id)).toHaveLength(1);
    expect(lastText(anna.id)).toContain('Готово, вы подписаны');
  });

  it('tells someone not subscribed that there is nothing to stop', async () => {
    await world();
    const stranger = person();
    await handled(telegram.injectTextMessage(stranger, '/stop'));
    expect(lastText(stranger.id)).toBe('Вы и так не подписаны. Чтобы подписаться, отправьте /start.');
  });

  it('keeps the subscription and says "try again later" while the directory is down', async () => {
    const directory = await world();
    const anna = await subscriber(directory);
    vi.spyOn(directory, 'setUserTelegramId').mockRejectedValue(
      new DirectoryUnavailableError('the directory is unreachable'),
    );
    await handled(telegram.injectTextMessage(anna, '/stop'));
    expect(lastText(anna.id)).toContain('Попробуйте, пожалуйста, через несколько минут');
    expect(linkedTo(anna.id)).toHaveLength(1);
  });

  it('says "try again later" when only part of /stop went through, and /stop again finishes it', async () => {
    const directory = await world();
    const anna = await subscriber(directory);
    // a second entry linked to the same account (the CLI allows it)
    await directory.addUser({
      name: 'Anna (work)',
      phone: '+79990000001',
      mailboxes: ['finance@example.com'],
      telegramId: anna.id,
    });
    const write = directory.setUserTelegramId.bind(directory);
    let calls = 0;
    vi.spyOn(directory, 'setUserTelegramId').mockImplementation(async (key, telegramId) => {
      calls++;
      if (calls === 2) throw new DirectoryUnavailableError('SeaTable answered 502');
      await write(key, telegramId);
    });
    await handled(telegram.injectTextMessage(anna, '/stop'));
    expect(lastText(anna.id)).toContain('Попробуйте, пожалуйста, через несколько минут');
    expect(linkedTo(anna.id)).toHaveLength(1);

    await handled(telegram.injectTextMessage(anna, '/stop'));
    expect(lastText(anna.id)).toContain('Вы отписались');
    expect(linkedTo(anna.id)).toHaveLength(0);
  });

  it('cancels the reports still queued for the user', async () => {
    const directory = await world('user2');
    const anna = await subscriber(directory, {}, [dovecot.address('user2')]);
    const email = dovecot.address('user2');
    await eventually(
      () => bot!.app.listeners.listener(email)?.status().lastSyncAt,
      10_000,
      'mailbox connected',
    );
    telegram.failNext(1, faults.tooManyRequests(60), { method: 'sendDocument', chatId: anna.id });
    await dovecot.append('user2', reportMail().raw);
    await telegram.waitForCall((call) => call.chatId === anna.id && call.status === 429, 15_000);
    const reportId = (await bot!.app.store.recent(1))[0]!.id;

    await handled(telegram.injectTextMessage(anna, '/stop'));
    expect((await bot!.app.outbox.forReport(reportId)).map((delivery) => delivery.state)).toEqual([
      'cancelled',
    ]);
  });
});

describe('/help and everything else', () => {
  it('explains the commands, in Russian by default and in English for English clients', async () => {
    await world();
    const anna = person();
    const john = person({ language_code: 'en' });
    await handled(telegram.injectTextMessage(anna, '/help'));
    await handled(telegram.injectTextMessage(john, '/help'));
    expect(lastText(anna.id)).toContain('/start — подписаться по номеру телефона');
    expect(lastText(john.id)).toContain('/start — subscribe with your phone number');
  });

  it('answers other messages and unknown commands in private with the list of commands', async () => {
    await world();
    const anna = person();
    await handled(telegram.injectTextMessage(anna, 'привет'));
    await handled(telegram.injectTextMessage(anna, '/unsubscribe'));
    expect(telegram.messagesIn(anna.id).map((message) => message.text)).toEqual([
      'Я понимаю только команды /start, /status, /last, /stop и /help.',
      'Я понимаю только команды /start, /status, /last, /stop и /help.',
    ]);
  });

  it('stays quiet about commands sent in groups', async () => {
    await world();
    const anna = person();
    const groupId = telegram.addGroup({ title: 'Chatter', botStatus: 'administrator' });
    for (const text of ['/start', '/status@superset_reports_bot', '/help', 'hello']) {
      await handled(telegram.injectTextMessage(anna, text, { chatId: groupId }));
    }
    expect(telegram.messagesIn(groupId)).toHaveLength(0);
    expect(telegram.messagesIn(anna.id)).toHaveLength(0);
  });

  it('answers "something went wrong" to an unexpected error and logs it without secrets', async () => {
    const directory = await world();
    const anna = await subscriber(directory);
    vi.spyOn(bot!.app.languages, 'set').mockImplementation(() => {
      throw new Error(`disk full while writing (login user1 / ${dovecot.password})`);
    });
    await handled(telegram.injectTextMessage(anna, '/status'));
    expect(lastText(anna.id)).toBe('Что-то пошло не так. Попробуйте, пожалуйста, позже.');
    const logged = bot!.logs.matching('unexpected error while handling an update');
    expect(logged).toHaveLength(1);
    expect(JSON.stringify(logged[0])).toContain('[REDACTED]');
    expect(bot!.logs.text()).not.toContain(dovecot.password);
  });
});
