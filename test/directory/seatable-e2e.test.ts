/**
 * The bot with DIRECTORY=seatable, end to end: a FakeSeaTable base, a real Dovecot, the fake
 * Telegram Bot API. Mailboxes added or removed in SeaTable start and stop their listeners within
 * one refresh, and reports keep flowing while SeaTable is down, even across a restart.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DovecotServer } from '../dovecot/dovecot.js';
import { FakeSeaTable } from '../fakes/seatable/fake-seatable.js';
import { FakeTelegram } from '../fakes/telegram/fake-telegram.js';
import { eventually, type RunningBot, removeDir, startBot, tempDataDir } from '../support/bot-harness.js';
import { reportMail } from '../support/simple-mail.js';
import { directorySeed, type MailboxSpec, mailboxRow } from './directory-worlds.js';

/** A short refresh (the config's minimum is 5 s; the App takes a test override in ms). */
const REFRESH_MS = 1000;
/** One refresh plus the time a listener needs to connect. */
const ONE_REFRESH_MS = REFRESH_MS + 4000;

let dovecot: DovecotServer;
let telegram: FakeTelegram;
const bots: RunningBot[] = [];
const fakes: FakeSeaTable[] = [];
const dataDirs: string[] = [];

beforeAll(async () => {
  [dovecot, telegram] = await Promise.all([DovecotServer.start({ users: 6 }), FakeTelegram.start()]);
});

afterAll(async () => {
  await telegram?.stop();
  await dovecot?.stop();
});

afterEach(async () => {
  for (const running of bots.splice(0)) await running.stop();
  for (const fake of fakes.splice(0)) await fake.stop();
  for (const dir of dataDirs.splice(0)) removeDir(dir);
});

function mailbox(user: string): MailboxSpec {
  return dovecot.mailbox(user);
}

/** A base with one mailbox per Dovecot user and one reader (Telegram chat) subscribed to each. */
async function base(users: string[], firstChat: number) {
  const chats = users.map((_, index) => firstChat + index);
  for (const chat of chats) telegram.addPrivateChat({ id: chat, first_name: `Reader ${chat}` });
  const fake = await FakeSeaTable.start({
    seed: directorySeed({
      mailboxes: users.map(mailbox),
      users: users.map((user, index) => ({
        name: `Reader ${chats[index]}`,
        phone: `+7999555${String(chats[index]).slice(-4)}`,
        mailboxes: [dovecot.address(user)],
        telegramId: chats[index],
      })),
      groups: [],
    }),
  });
  fakes.push(fake);
  return { fake, chats };
}

async function startSeaTableBot(fake: FakeSeaTable, dataDir = tempDataDir()): Promise<RunningBot> {
  if (!dataDirs.includes(dataDir)) dataDirs.push(dataDir);
  const started = await startBot({
    dataDir,
    env: {
      DIRECTORY: 'seatable',
      SEATABLE_SERVER_URL: fake.url,
      SEATABLE_API_TOKEN: fake.apiToken,
      TELEGRAM_BOT_TOKEN: telegram.token,
      TELEGRAM_API_ROOT: telegram.apiRoot,
    },
    deps: { seatableRefreshMs: REFRESH_MS },
  });
  bots.push(started);
  return started;
}

function connected(bot: RunningBot, user: string): boolean {
  return Boolean(bot.app.listeners.listener(dovecot.address(user))?.status().lastSyncAt);
}

describe('DIRECTORY=seatable', () => {
  it('starts, restarts and stops listeners as mailboxes are added, deactivated and removed in SeaTable', async () => {
    const { fake, chats } = await base(['user1', 'user2'], 7_100_001);
    const live = await startSeaTableBot(fake);
    expect(live.app.directory.kind).toBe('seatable');
    await eventually(() => connected(live, 'user1') && connected(live, 'user2'), 10_000, 'listeners');

    // in one admin session: a new mailbox with a new reader, and user2 switched off
    const [added] = fake.seedRows('Mailboxes', [mailboxRow(mailbox('user3'))]);
    const newReader = 7_100_900;
    telegram.addPrivateChat({ id: newReader, first_name: 'New reader' });
    fake.seedRows('Users', [
      {
        Name: 'New reader',
        Phone: '+79995550900',
        Mailboxes: [added!],
        'Telegram ID': String(newReader),
        Active: true,
      },
    ]);
    fake.setCells('Mailboxes', fake.rowId('Mailboxes', dovecot.address('user2')), { Active: false });
    // and user1 now only accepts mail from Superset: a changed setting restarts its listener
    const user1Before = live.app.listeners.listener(dovecot.address('user1'));
    fake.setCells('Mailboxes', fake.rowId('Mailboxes', dovecot.address('user1')), {
      'Allowed senders': 'superset@bi.example.com',
    });
    const changedAt = Date.now();
    await eventually(
      () =>
        connected(live, 'user3') &&
        live.app.listeners.listener(dovecot.address('user2')) === undefined &&
        live.app.listeners.listener(dovecot.address('user1')) !== user1Before &&
        connected(live, 'user1'),
      ONE_REFRESH_MS,
      'user3 listening, user2 stopped and user1 restarted within one refresh',
    );
    expect(Date.now() - changedAt).toBeLessThan(ONE_REFRESH_MS);

    const mail = reportMail();
    await dovecot.append('user3', mail.raw);
    const [message] = await telegram.waitForMessages(newReader, 1, 15_000);
    expect(message!.caption).toContain(mail.subject);

    // removed from the table: its listener stops; the others keep live
    fake.removeRows('Mailboxes', [added!]);
    await eventually(
      () => live.app.listeners.listener(dovecot.address('user3')) === undefined,
      ONE_REFRESH_MS,
      'user3 stopped within one refresh',
    );
    expect(connected(live, 'user1')).toBe(true);
    expect(telegram.messagesIn(chats[1]!)).toHaveLength(0);
  });

  it('delivers reports from the cached directory while SeaTable is down, and says so once', async () => {
    const { fake, chats } = await base(['user4'], 7_200_001);
    const live = await startSeaTableBot(fake);
    await eventually(() => connected(live, 'user4'), 10_000, 'listener');

    await fake.goOffline();
    const mail = reportMail();
    await dovecot.append('user4', mail.raw);
    const [message] = await telegram.waitForMessages(chats[0]!, 1, 15_000);
    expect(message!.caption).toContain(mail.subject);

    const unreachable = () => live.logs.lines.filter((line) => line.alert === 'seatable-unreachable');
    await eventually(() => unreachable().length > 0, ONE_REFRESH_MS, 'the outage noticed');
    expect(unreachable()).toHaveLength(1);
    expect(String(unreachable()[0]!.msg)).toContain('Reports are still delivered');

    await fake.goOnline();
    await eventually(() => unreachable().length === 2, ONE_REFRESH_MS, 'the recovery noticed');
    expect(String(unreachable()[1]!.msg)).toContain('is reachable again');
    expect(live.logs.text()).not.toContain(fake.apiToken);
  });

  it('starts during an outage from the copy saved by the previous run', async () => {
    const { fake, chats } = await base(['user5'], 7_300_001);
    const dataDir = tempDataDir();
    const first = await startSeaTableBot(fake, dataDir);
    await eventually(() => connected(first, 'user5'), 10_000, 'listener');
    await first.stop();

    await fake.goOffline();
    const second = await startSeaTableBot(fake, dataDir);
    expect(second.logs.matching('serving the directory copy saved by an earlier run')).toHaveLength(1);
    await eventually(() => connected(second, 'user5'), 10_000, 'listener after restart');
    const mail = reportMail();
    await dovecot.append('user5', mail.raw);
    const [message] = await telegram.waitForMessages(chats[0]!, 1, 15_000);
    expect(message!.caption).toContain(mail.subject);
  });
});
