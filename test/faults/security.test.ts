/**
 * The obvious tricks: someone else's contact card, a forwarded card, a group that copies a registered
 * group's title, a group nobody registered, mail from a sender that is not allowed. None of them gets a
 * report, and no secret shows up in any log line along the way.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalDirectory } from '../../src/directory/local/local-directory.js';
import { openDatabase } from '../../src/store/database.js';
import { SqliteDatabase } from '../../src/store/sqlite-database.js';
import { DovecotServer } from '../dovecot/dovecot.js';
import { FakeDns } from '../fakes/dns/fake-dns.js';
import { FakeTelegram } from '../fakes/telegram/fake-telegram.js';
import { eventually, type RunningBot, removeDir, startBot, tempDataDir } from '../support/bot-harness.js';
import { BotProcess } from '../support/bot-process.js';
import { makeDkimKey, signMail } from '../support/dkim.js';
import { reportMail } from '../support/simple-mail.js';

let dovecot: DovecotServer;
let telegram: FakeTelegram;

beforeAll(async () => {
  dovecot = await DovecotServer.start({ users: 5 });
  telegram = await FakeTelegram.start({ rateLimits: false });
});

afterAll(async () => {
  await telegram?.stop();
  await dovecot?.stop();
});

describe('security', () => {
  it('gives nothing to a foreign contact, a title hijack, an unknown group or a stranger\u2019s mail', async () => {
    const bot = await startBot({
      env: { TELEGRAM_BOT_TOKEN: telegram.token, TELEGRAM_API_ROOT: telegram.apiRoot },
    });
    try {
      const directory = bot.app.directory as LocalDirectory;
      const email = dovecot.address('user1');
      await directory.addMailbox(dovecot.mailbox('user1', { allowFrom: ['@bi.example.com'] }));
      await directory.addUser({ name: 'Anna', phone: '+79992220001', mailboxes: [email] });
      await directory.addGroup({ title: 'BI team', mailboxes: [email] });
      await eventually(
        () => bot.app.listeners.listener(email)?.status().lastSyncAt,
        10_000,
        'mailbox connected',
      );

      const anna = { id: 92_000_001, first_name: 'Anna' };
      const mallory = { id: 92_000_666, first_name: 'Mallory' };
      const admin = { id: 92_000_002, first_name: 'Group admin' };
      // Mallory sends Anna's contact card, then forwards Anna's own card
      await telegram.waitForConfirmation(
        telegram.injectContact(mallory, { phone_number: '79992220001', owner: anna }),
        10_000,
      );
      await telegram.waitForConfirmation(
        telegram.injectContact(mallory, { phone_number: '79992220001', owner: anna, forwardedFrom: anna }),
        10_000,
      );
      expect(directory.snapshot().users.find((user) => user.name === 'Anna')?.telegramId).toBeNull();

      // the real group registers; a copy with the same title and a group nobody registered try too
      const real = telegram.addGroup({ title: 'BI team', botStatus: 'member' });
      await telegram.waitForConfirmation(
        telegram.injectMyChatMember({
          chat: real,
          from: admin,
          oldStatus: 'member',
          newStatus: 'administrator',
        }),
        10_000,
      );
      await eventually(
        () => directory.snapshot().groups.find((group) => group.title === 'BI team')?.telegramId === real,
        10_000,
        'registration',
      );
      const copycat = telegram.addGroup({ title: 'BI team', botStatus: 'member' });
      await telegram.waitForConfirmation(
        telegram.injectMyChatMember({
          chat: copycat,
          from: mallory,
          oldStatus: 'member',
          newStatus: 'administrator',
        }),
        10_000,
      );
      const stranger = telegram.addGroup({ title: 'Random chat', botStatus: 'member' });
      await telegram.waitForConfirmation(
        telegram.injectMyChatMember({
          chat: stranger,
          from: mallory,
          oldStatus: 'member',
          newStatus: 'administrator',
        }),
        10_000,
      );
      await eventually(() => telegram.callsTo('leaveChat').length >= 2, 10_000, 'the bot leaving both');
      expect(directory.snapshot().groups.find((group) => group.title === 'BI team')?.telegramId).toBe(real);

      // a stranger's mail, then a real report
      await dovecot.append('user1', reportMail({ from: 'mallory@evil.example' }).raw);
      await eventually(
        async () => (await bot.app.store.recent(1))[0]?.status === 'rejected_sender',
        10_000,
        'the rejected mail',
      );
      const real1 = reportMail({ from: 'superset@bi.example.com' });
      await dovecot.append('user1', real1.raw);
      const [delivered] = await telegram
        .waitForMessages(real, 2, 15_000)
        .then((messages) => messages.filter((message) => message.type === 'document'));
      expect(delivered?.caption).toContain(real1.subject);
      await new Promise((resolve) => setTimeout(resolve, 500));
      for (const chat of [mallory.id, anna.id, copycat, stranger]) {
        expect(telegram.messagesIn(chat).filter((message) => message.type !== 'text')).toEqual([]);
      }
      expect(telegram.messagesIn(real).filter((message) => message.type === 'document')).toHaveLength(1);

      const logs = bot.logs.text();
      expect(logs.length).toBeGreaterThan(0);
      for (const secret of [telegram.token, telegram.token.split(':')[1]!, dovecot.password]) {
        expect(logs).not.toContain(secret);
      }
    } finally {
      await bot.stop();
      removeDir(bot.dataDir);
    }
  });

  it('forwards only mail whose From is authenticated (DKIM, Authentication-Results), with links only under SUPERSET_URL', async () => {
    const dns = await FakeDns.start();
    const dataDir = tempDataDir();
    const biKey = makeDkimKey('bi.example.com');
    const evilKey = makeDkimKey('evil.example.net');
    dns.setTxt(biKey.record.name, biKey.record.value);
    dns.setTxt(evilKey.record.name, evilKey.record.value);
    const dkimBox = dovecot.address('user2');
    const arBox = dovecot.address('user3');
    const reader = 93_000_001;
    const admin = 93_000_009;
    const db = openDatabase(dataDir);
    const directory = new LocalDirectory(new SqliteDatabase(db), { phoneRegion: 'RU', pollIntervalMs: 0 });
    await directory.addMailbox({
      ...dovecot.mailbox('user2', { allowFrom: ['@bi.example.com'] }),
      senderAuth: 'dkim',
    });
    await directory.addMailbox({
      ...dovecot.mailbox('user3', { allowFrom: ['@bi.example.com'] }),
      senderAuth: 'authentication-results:mx.test.example',
    });
    await directory.addUser({
      name: 'Reader',
      phone: '+79993330001',
      mailboxes: [dkimBox, arBox],
      telegramId: reader,
    });
    db.close();
    telegram.addPrivateChat({ id: reader, first_name: 'Reader' });
    telegram.addPrivateChat({ id: admin, first_name: 'Admin' });
    const bot = await BotProcess.start({
      DATA_DIR: dataDir,
      TELEGRAM_BOT_TOKEN: telegram.token,
      TELEGRAM_API_ROOT: telegram.apiRoot,
      TELEGRAM_CHAT_INTERVAL_MS: '0',
      ADMIN_CHAT_ID: String(admin),
      DNS_SERVERS: dns.address,
      SUPERSET_URL: 'https://bi.example.com',
    });
    try {
      await eventually(
        () => bot.lines.filter((line) => line.includes('connected to the mailbox')).length >= 2,
        20_000,
        'both mailboxes connected',
      );
      const genuine = reportMail();
      const phish = reportMail();
      const forged = [reportMail(), reportMail()];
      const foreignSigned = reportMail();
      const trusted = reportMail();
      const untrusted = reportMail();
      const withAuthResults = (raw: string, header: string) => `Authentication-Results: ${header}\r\n${raw}`;
      await dovecot.append('user2', await signMail(genuine.raw, biKey));
      await dovecot.append(
        'user2',
        await signMail(
          phish.raw.replace('https://bi.example.com/superset/dashboard/1/', 'https://evil.example.net/login'),
          biKey,
        ),
      );
      for (const mail of forged) await dovecot.append('user2', mail.raw);
      await dovecot.append('user2', await signMail(foreignSigned.raw, evilKey));
      await dovecot.append(
        'user3',
        withAuthResults(
          trusted.raw,
          'mx.test.example; dkim=pass header.d=bi.example.com header.s=sel1; spf=none',
        ),
      );
      await dovecot.append(
        'user3',
        withAuthResults(
          untrusted.raw,
          'mx.attacker.example; dkim=pass header.d=bi.example.com; spf=pass smtp.mailfrom=superset@bi.example.com',
        ),
      );

      const rejected = () => bot.lines.filter((line) => line.includes('failed sender authentication'));
      await eventually(() => rejected().length >= 4, 30_000, 'four mails rejected');
      const captions = () => telegram.messagesIn(reader).filter((message) => message.caption);
      await eventually(() => captions().length >= 3, 30_000, 'three reports delivered');
      await new Promise((resolve) => setTimeout(resolve, 1000));

      const bySubject = (subject: string) =>
        captions().find((message) => message.caption!.startsWith(subject));
      expect(captions()).toHaveLength(3);
      expect(bySubject(genuine.subject)?.caption_entities).toEqual([
        expect.objectContaining({ type: 'text_link', url: 'https://bi.example.com/superset/dashboard/1/' }),
      ]);
      // the signed mail's link points elsewhere: no button at all
      expect(bySubject(phish.subject)?.caption_entities ?? []).toEqual([]);
      expect(bySubject(phish.subject)?.caption).not.toContain('evil.example.net');
      expect(bySubject(trusted.subject)).toBeDefined();
      for (const mail of [...forged, foreignSigned, untrusted])
        expect(bySubject(mail.subject)).toBeUndefined();

      const reasons = rejected().join('\n');
      expect(reasons).toContain('no DKIM signature');
      expect(reasons).toContain('d=evil.example.net: pass, not aligned');
      expect(reasons).toContain('no Authentication-Results header from mx.test.example');
      expect(dns.queries).toContain(biKey.record.name);
      // four failures of one sender: the admin chat hears of it once
      const alerts = telegram
        .messagesIn(admin)
        .filter((message) => message.text?.includes('claiming to be from superset@bi.example.com'));
      expect(alerts).toHaveLength(1);
      expect(await bot.stop()).toBe(0);
    } finally {
      if (bot.child.exitCode === null) await bot.crash();
      await dns.stop();
      removeDir(dataDir);
    }
  });

  /** A bot with a mailbox of its own (user4, user5: the tests above read user1 to user3), connected. */
  async function botWithMailbox(user: 'user4' | 'user5', env: Record<string, string> = {}) {
    const bot = await startBot({
      env: { TELEGRAM_BOT_TOKEN: telegram.token, TELEGRAM_API_ROOT: telegram.apiRoot, ...env },
    });
    const directory = bot.app.directory as LocalDirectory;
    const email = dovecot.address(user);
    await directory.addMailbox(dovecot.mailbox(user, { allowFrom: ['@bi.example.com'] }));
    await eventually(
      () => bot.app.listeners.listener(email)?.status().lastSyncAt,
      10_000,
      'mailbox connected',
    );
    return { bot, directory, email };
  }

  async function stop(bot: RunningBot): Promise<void> {
    await bot.stop();
    removeDir(bot.dataDir);
  }

  it('keeps an admin\u2019s pause through /start, a shared phone, a block and a re-promotion: no report', async () => {
    const { bot, directory, email } = await botWithMailbox('user4');
    try {
      const paula = { id: 92_100_001, first_name: 'Paula' };
      const colleague = { id: 92_100_002, first_name: 'Colleague' };
      const admin = { id: 92_100_003, first_name: 'Group admin' };
      telegram.addPrivateChat(paula);
      await directory.addUser({
        name: 'Paula',
        phone: '+79992220011',
        mailboxes: [email],
        telegramId: paula.id,
      });
      await directory.addUser({
        name: 'Colleague',
        phone: '+79992220012',
        mailboxes: [email],
        telegramId: colleague.id,
      });
      telegram.addPrivateChat(colleague);
      await directory.addGroup({ title: 'Paused team', mailboxes: [email] });
      const group = telegram.addGroup({ title: 'Paused team', botStatus: 'member' });
      const confirm = (update: Parameters<typeof telegram.waitForConfirmation>[0]) =>
        telegram.waitForConfirmation(update, 10_000);
      await confirm(
        telegram.injectMyChatMember({
          chat: group,
          from: admin,
          oldStatus: 'member',
          newStatus: 'administrator',
        }),
      );
      expect(directory.snapshot().groups[0]).toMatchObject({ telegramId: group, active: true });

      // the admin pauses Paula (she is leaving) and the group (under review)
      await directory.setUserPaused('+79992220011', true);
      await directory.setGroupPaused('Paused team', true);
      // Paula blocks and unblocks the bot, sends /start and her phone; the group demotes and re-promotes the bot
      await confirm(
        telegram.injectMyChatMember({
          chat: paula.id,
          from: paula,
          oldStatus: 'member',
          newStatus: 'kicked',
        }),
      );
      await confirm(
        telegram.injectMyChatMember({
          chat: paula.id,
          from: paula,
          oldStatus: 'kicked',
          newStatus: 'member',
        }),
      );
      await confirm(telegram.injectTextMessage(paula, '/start'));
      await confirm(telegram.injectContact(paula, { phone_number: '79992220011' }));
      await confirm(
        telegram.injectMyChatMember({
          chat: group,
          from: admin,
          oldStatus: 'administrator',
          newStatus: 'member',
        }),
      );
      await confirm(
        telegram.injectMyChatMember({
          chat: group,
          from: admin,
          oldStatus: 'member',
          newStatus: 'administrator',
        }),
      );
      expect(telegram.messagesIn(paula.id).at(-1)?.text).toContain('приостановлена администратором');
      expect(directory.snapshot().users.find((user) => user.name === 'Paula')).toMatchObject({
        active: false,
        pausedByAdmin: true,
      });

      const report = reportMail({ from: 'superset@bi.example.com' });
      await dovecot.append('user4', report.raw);
      const [delivered] = await telegram.waitForMessages(colleague.id, 1, 15_000);
      expect(delivered).toMatchObject({ type: 'document' });
      await new Promise((resolve) => setTimeout(resolve, 500));
      for (const chat of [paula.id, group]) {
        expect(telegram.messagesIn(chat).filter((message) => message.type !== 'text')).toEqual([]);
      }
    } finally {
      await stop(bot);
    }
  });

  it('does not give a squatter the reports of a group title (GROUP_REGISTRATION=approval)', async () => {
    const adminChat = telegram.addGroup({
      type: 'supergroup',
      title: 'Bot admins',
      botStatus: 'administrator',
    });
    const { bot, directory, email } = await botWithMailbox('user5', {
      GROUP_REGISTRATION: 'approval',
      ADMIN_CHAT_ID: String(adminChat),
    });
    try {
      const reviewer = { id: 92_200_001, first_name: 'Reviewer' };
      const mallory = { id: 92_200_666, first_name: 'Mallory' };
      const owner = { id: 92_200_002, first_name: 'Finance lead' };
      telegram.setMember(adminChat, reviewer, 'member');
      await directory.addGroup({ title: 'Finance', mailboxes: [email] });
      const confirm = (update: Parameters<typeof telegram.waitForConfirmation>[0]) =>
        telegram.waitForConfirmation(update, 10_000);
      const requestFor = (chatId: number) =>
        eventually(
          () => telegram.messagesIn(adminChat).find((message) => message.text?.includes(`id ${chatId},`)),
          10_000,
          `the approval request for ${chatId}`,
        );
      const press = async (
        by: { id: number; first_name: string },
        messageId: number,
        label: 'Approve' | 'Reject',
      ) => {
        const message = telegram.messagesIn(adminChat).find((entry) => entry.message_id === messageId)!;
        const markup = (
          message.message as {
            reply_markup?: { inline_keyboard: Array<Array<{ text: string; callback_data: string }>> };
          }
        ).reply_markup!;
        const data = markup.inline_keyboard.flat().find((button) => button.text === label)!.callback_data;
        const update = telegram.injectCallbackQuery(by, adminChat, messageId, data);
        await confirm(update);
        return telegram.callbackAnswer(update.callback_query!.id);
      };

      // Mallory learns the title "Finance" and gets there first
      const squat = telegram.addGroup({ type: 'supergroup', title: 'Finance', botStatus: 'member' });
      await confirm(
        telegram.injectMyChatMember({
          chat: squat,
          from: mallory,
          oldStatus: 'member',
          newStatus: 'administrator',
        }),
      );
      const squatRequest = await requestFor(squat);
      expect(squatRequest.text).toContain('"Mallory" (id 92200666)');
      expect(directory.snapshot().groups[0]).toMatchObject({ telegramId: null, locked: false });
      // pressing Approve herself (outside the admin chat) decides nothing
      expect(await press(mallory, squatRequest.message_id, 'Approve')).toMatchObject({ show_alert: true });
      expect(directory.snapshot().groups[0]!.telegramId).toBeNull();
      // the reviewer does not know this chat and rejects it: the bot leaves, nothing written
      expect(await press(reviewer, squatRequest.message_id, 'Reject')).toEqual({ text: 'Rejected' });
      expect(telegram.chat(squat)).toMatchObject({ botStatus: 'left' });

      // the real group asks next and is approved
      const real = telegram.addGroup({ type: 'supergroup', title: 'Finance', botStatus: 'member' });
      await confirm(
        telegram.injectMyChatMember({
          chat: real,
          from: owner,
          oldStatus: 'member',
          newStatus: 'administrator',
        }),
      );
      const realRequest = await requestFor(real);
      expect(await press(reviewer, realRequest.message_id, 'Approve')).toEqual({ text: 'Approved' });
      expect(directory.snapshot().groups[0]).toMatchObject({ telegramId: real, locked: true, active: true });

      const report = reportMail({ from: 'superset@bi.example.com' });
      await dovecot.append('user5', report.raw);
      const delivered = await eventually(
        () => telegram.messagesIn(real).find((message) => message.type === 'document'),
        15_000,
        'the report in the real group',
      );
      expect(delivered.caption).toContain(report.subject);
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(telegram.messagesIn(squat).filter((message) => message.type !== 'text')).toEqual([]);
    } finally {
      await stop(bot);
    }
  });
});
