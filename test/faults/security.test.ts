/**
 * The obvious tricks: someone else's contact card, a forwarded card, a group that copies a registered
 * group's title, a group nobody registered, mail from a sender that is not allowed. None of them gets a
 * report, and no secret shows up in any log line along the way.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalDirectory } from '../../src/directory/local/local-directory.js';
import { openDatabase } from '../../src/store/database.js';
import { DovecotServer } from '../dovecot/dovecot.js';
import { FakeDns } from '../fakes/dns/fake-dns.js';
import { FakeTelegram } from '../fakes/telegram/fake-telegram.js';
import { eventually, removeDir, startBot, tempDataDir } from '../support/bot-harness.js';
import { BotProcess } from '../support/bot-process.js';
import { makeDkimKey, signMail } from '../support/dkim.js';
import { reportMail } from '../support/simple-mail.js';

let dovecot: DovecotServer;
let telegram: FakeTelegram;

beforeAll(async () => {
  dovecot = await DovecotServer.start({ users: 3 });
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
      directory.addMailbox(dovecot.mailbox('user1', { allowFrom: ['@bi.example.com'] }));
      directory.addUser({ name: 'Anna', phone: '+79992220001', mailboxes: [email] });
      directory.addGroup({ title: 'BI team', mailboxes: [email] });
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
        () => bot.app.store.recent(1)[0]?.status === 'rejected_sender',
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
    const directory = new LocalDirectory(db, { phoneRegion: 'RU', pollIntervalMs: 0 });
    directory.addMailbox({
      ...dovecot.mailbox('user2', { allowFrom: ['@bi.example.com'] }),
      senderAuth: 'dkim',
    });
    directory.addMailbox({
      ...dovecot.mailbox('user3', { allowFrom: ['@bi.example.com'] }),
      senderAuth: 'authentication-results:mx.test.example',
    });
    directory.addUser({
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
});
