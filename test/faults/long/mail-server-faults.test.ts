/**
 * A flaky mail server loses no mail, and a lost DATA_DIR replays no history (issue 10, parts 2 and
 * 3). Each scenario runs a real bot process against its own Dovecot, fake Bot API (and fake
 * SeaTable); they run concurrently, so the file takes about as long as its longest scenario.
 *
 * Lengths (env overrides, the lengths by default):
 * - FAULT_FETCH_REFUSAL_SECONDS (30): Dovecot refuses to FETCH one message (its file unreadable).
 * - FAULT_MISSING_FOLDER_MINUTES (5): the watched folder is deleted; logins are counted meanwhile.
 * - FAULT_SPOOL_FULL_MINUTES (2): the spool's disk (a tmpfs) is full.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalDirectory } from '../../../src/directory/local/local-directory.js';
import { openDatabase } from '../../../src/store/database.js';
import { SqliteDatabase } from '../../../src/store/sqlite-database.js';
import { directorySeed } from '../../directory/directory-worlds.js';
import { DovecotServer } from '../../dovecot/dovecot.js';
import { FakeSeaTable } from '../../fakes/seatable/fake-seatable.js';
import { FakeTelegram } from '../../fakes/telegram/fake-telegram.js';
import { eventually, freePort, removeDir, tempDataDir } from '../../support/bot-harness.js';
import { BotProcess } from '../../support/bot-process.js';
import { pngReportMail, reportMail } from '../../support/simple-mail.js';

const FETCH_REFUSAL_MS = Number(process.env.FAULT_FETCH_REFUSAL_SECONDS ?? 30) * 1000;
const MISSING_FOLDER_MS = Number(process.env.FAULT_MISSING_FOLDER_MINUTES ?? 5) * 60_000;
const SPOOL_FULL_MS = Number(process.env.FAULT_SPOOL_FULL_MINUTES ?? 2) * 60_000;
/** The longest wait between reconnects in these runs: bounds how long a recovery can take. */
const RECONNECT_MAX_SECONDS = 120;
const ADMIN_CHAT = 93_000_001;
/** Time for a recovery after a fault ends: the next reconnect, at most RECONNECT_MAX_SECONDS away. */
const RECOVERY_MS = (RECONNECT_MAX_SECONDS + 30) * 1000;
/** Setting up and the checks around a fault. */
const SLACK_MS = 90_000;
/** Starting a bot process: generous, as the machine may be busy with the other scenarios. */
const START_MS = 60_000;

/**
 * Dovecot answers a FETCH it cannot serve with a tagged NO instead of dropping the connection, and
 * keeps the envelope in its cache from delivery on: the listing still works, only the body is refused.
 */
const FETCH_NO_CONF = [
  'imap_fetch_failure = no-after',
  'mail_never_cache_fields =',
  'mail_always_cache_fields = imap.envelope hdr.date hdr.subject hdr.from hdr.sender hdr.reply-to hdr.to hdr.cc hdr.bcc hdr.in-reply-to hdr.message-id',
].join('\n');

const cleanups: Array<() => Promise<void> | void> = [];

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => undefined);
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One scenario's world: Dovecot, the fake Bot API with a reader and the admin chat, a DATA_DIR. */
async function world(options: { folder?: string; dovecotConf?: string; dataDir?: string } = {}) {
  const dovecot = await DovecotServer.start({ users: 1, extraConf: options.dovecotConf });
  cleanups.push(() => dovecot.stop());
  const telegram = await FakeTelegram.start({ rateLimits: false });
  cleanups.push(() => telegram.stop());
  telegram.addPrivateChat({ id: ADMIN_CHAT, first_name: 'Admins' });
  const reader = 93_100_001;
  telegram.addPrivateChat({ id: reader, first_name: 'Reader' });
  const dataDir = options.dataDir ?? tempDataDir();
  cleanups.push(() => removeDir(dataDir));
  const email = dovecot.address('user1');
  if (options.folder) await dovecot.createFolder('user1', options.folder);
  const db = openDatabase(dataDir);
  const directory = new LocalDirectory(new SqliteDatabase(db), { phoneRegion: 'RU', pollIntervalMs: 0 });
  await directory.addMailbox({ ...dovecot.mailbox('user1'), folder: options.folder });
  await directory.addUser({ name: 'Reader', phone: '+79993000001', mailboxes: [email], telegramId: reader });
  db.close();
  const httpPort = await freePort();
  const env = {
    DATA_DIR: dataDir,
    TELEGRAM_BOT_TOKEN: telegram.token,
    TELEGRAM_API_ROOT: telegram.apiRoot,
    ADMIN_CHAT_ID: String(ADMIN_CHAT),
    MAILBOX_DOWN_ALERT_MINUTES: '1',
    IMAP_RECONNECT_MAX_SECONDS: String(RECONNECT_MAX_SECONDS),
    TELEGRAM_CHAT_INTERVAL_MS: '0',
    HTTP_PORT: String(httpPort),
  };
  const start = async () => {
    const bot = await BotProcess.start(env, START_MS);
    cleanups.push(async () => {
      if (bot.child.exitCode === null) await bot.crash();
    });
    await bot.waitForLine('caught up: the mailbox is in sync', START_MS);
    return bot;
  };
  const readyz = async () => {
    const response = await fetch(`http://127.0.0.1:${httpPort}/readyz`);
    return (await response.json()) as {
      mailboxes: Array<{ mailbox: string; state: string; lastError: string | null }>;
    };
  };
  /** How many messages of the reader's chat carry `subject` (each report here is one message). */
  const received = (subject: string) =>
    telegram.messagesIn(reader).filter((message) => message.caption?.startsWith(subject)).length;
  const adminTexts = () => telegram.messagesIn(ADMIN_CHAT).map((message) => message.text ?? '');
  return { dovecot, telegram, reader, email, dataDir, env, start, readyz, received, adminTexts };
}

describe.concurrent('a flaky mail server loses no mail', () => {
  it(
    `a mail whose FETCH the server refuses for ${FETCH_REFUSAL_MS / 1000} s arrives once afterwards`,
    async () => {
      const w = await world({ dovecotConf: FETCH_NO_CONF });
      const bot = await w.start();
      const before = reportMail();
      await w.dovecot.append('user1', before.raw);
      await w.telegram.waitForMessages(w.reader, 1, 20_000);

      const refused = reportMail();
      const marker = refused.subject.split(' ').pop()!;
      await w.dovecot.append('user1', refused.raw);
      // at once: the bot hears of the new mail half a second later (Dovecot's notify delay)
      const mode = w.dovecot.setMessageMode('user1', marker, 0);
      await sleep(FETCH_REFUSAL_MS);
      expect(w.received(refused.subject)).toBe(0);
      // the refusal really happened, and was taken for what it is: not the mail's fault
      expect(bot.lines.some((line) => line.includes('could not be read, will retry'))).toBe(true);
      expect(bot.lines.some((line) => line.includes('mail unreadable'))).toBe(false);

      w.dovecot.setMessageMode('user1', marker, mode);
      await eventually(() => w.received(refused.subject) >= 1, RECOVERY_MS, 'the refused mail');
      const after = reportMail();
      await w.dovecot.append('user1', after.raw);
      await eventually(() => w.received(after.subject) >= 1, 30_000, 'the next mail');
      await sleep(2000);
      expect([before, refused, after].map((mail) => w.received(mail.subject))).toEqual([1, 1, 1]);
      expect(w.adminTexts().some((text) => text.includes('was not forwarded'))).toBe(false);
      expect(await bot.stop()).toBe(0);
    },
    FETCH_REFUSAL_MS + RECOVERY_MS + SLACK_MS,
  );

  it(
    `a deleted folder: few logins in ${MISSING_FOLDER_MS / 60_000} min, an alert, recovery when it is back`,
    async () => {
      const folder = 'Reports';
      const w = await world({ folder });
      const bot = await w.start();
      const before = reportMail();
      await w.dovecot.append('user1', before.raw, { folder });
      await w.telegram.waitForMessages(w.reader, 1, 20_000);

      const loginsBefore = w.dovecot.logins('user1');
      await w.dovecot.deleteFolder('user1', folder);
      // sessions of the user are dropped, as a provider does when it changes a mailbox under them
      await w.dovecot.kick('user1');
      await sleep(MISSING_FOLDER_MS);
      const logins = w.dovecot.logins('user1') - loginsBefore;
      console.log(
        `missing folder: ${logins} logins in ${MISSING_FOLDER_MS / 60_000} min (IMAP_RECONNECT_MAX_SECONDS=${RECONNECT_MAX_SECONDS})`,
      );
      expect(logins).toBeGreaterThan(0);
      expect(logins).toBeLessThanOrEqual(Math.max(3, Math.ceil(Math.log2(MISSING_FOLDER_MS / 1000)) + 2));
      const down = w.adminTexts().filter((text) => text.includes(`Mailbox ${w.email}`));
      expect(down.length).toBe(1);
      // the server's own words, as the admin needs them
      expect(down[0]).toMatch(/doesn't exist|not exist|NONEXISTENT/i);
      const ready = await w.readyz();
      const entry = ready.mailboxes.find((mailbox) => mailbox.mailbox === w.email)!;
      expect(entry.state).toBe('retrying');
      expect(entry.lastError).toMatch(/doesn't exist|not exist|NONEXISTENT/i);

      await w.dovecot.createFolder('user1', folder);
      const after = reportMail();
      await w.dovecot.append('user1', after.raw, { folder });
      await eventually(
        () => w.received(after.subject) >= 1,
        RECOVERY_MS,
        'the mail after the folder is back',
      );
      await eventually(
        () => w.adminTexts().some((text) => text.includes(`Mailbox ${w.email} is connected again`)),
        30_000,
        'the recovery message',
      );
      expect((await w.readyz()).mailboxes[0]!.state).toBe('connected');
      expect([before, after].map((mail) => w.received(mail.subject))).toEqual([1, 1]);
      expect(await bot.stop()).toBe(0);
    },
    MISSING_FOLDER_MS + 2 * RECOVERY_MS + SLACK_MS,
  );

  it(
    `the spool's disk full for ${SPOOL_FULL_MS / 60_000} min loses no mail`,
    async (context) => {
      const dataDir = tempDataDir();
      const spool = path.join(dataDir, 'spool');
      mkdirSync(spool, { recursive: true });
      try {
        // 64 KiB: smaller than one of the screenshots below, so each of them fails with ENOSPC
        execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=0700', 'tmpfs', spool], { stdio: 'pipe' });
      } catch (error) {
        context.skip(`cannot mount a tmpfs for the spool (needs root and CAP_SYS_ADMIN): ${String(error)}`);
      }
      const w = await world({ dataDir });
      // runs before the world's own clean-up: the mount point must go before DATA_DIR can
      cleanups.push(() => {
        execFileSync('umount', ['-l', spool]);
        removeDir(dataDir);
      });
      const bot = await w.start();
      const mails = [1, 2, 3].map(() =>
        pngReportMail({ screenshots: [{ width: 300, height: 300 }], uncompressed: true }),
      );
      for (const mail of mails) await w.dovecot.append('user1', mail.raw);
      await sleep(SPOOL_FULL_MS);
      expect(mails.map((mail) => w.received(mail.subject))).toEqual([0, 0, 0]);
      expect(bot.lines.some((line) => line.includes('ENOSPC'))).toBe(true);
      expect(bot.lines.some((line) => line.includes('mail unreadable'))).toBe(false);

      execFileSync('mount', ['-o', 'remount,size=64m', spool]);
      await eventually(
        () => mails.every((mail) => w.received(mail.subject) >= 1),
        RECOVERY_MS,
        'every mail after the disk has room again',
      );
      await sleep(2000);
      expect(mails.map((mail) => w.received(mail.subject))).toEqual([1, 1, 1]);
      expect(await bot.stop()).toBe(0);
    },
    SPOOL_FULL_MS + RECOVERY_MS + SLACK_MS,
  );
});

describe.concurrent('no watermark never means replay history', () => {
  it(
    'SeaTable rows created 30 days ago, DATA_DIR deleted: nothing is sent again, the next mail once',
    async () => {
      const dovecot = await DovecotServer.start({ users: 1 });
      cleanups.push(() => dovecot.stop());
      const telegram = await FakeTelegram.start({ rateLimits: false });
      cleanups.push(() => telegram.stop());
      const reader = 93_200_001;
      telegram.addPrivateChat({ id: reader, first_name: 'Anna' });
      const email = dovecot.address('user1');
      const seatable = await FakeSeaTable.start({
        seed: directorySeed({
          mailboxes: [dovecot.mailbox('user1')],
          users: [{ name: 'Anna', phone: '+79993000002', mailboxes: [email], telegramId: reader }],
          groups: [],
        }),
      });
      cleanups.push(() => seatable.stop());
      const monthAgo = Date.now() - 30 * 24 * 3600_000;
      for (const table of ['Mailboxes', 'Users', 'Groups']) seatable.backdateRows(table, monthAgo);
      const dataDir = tempDataDir();
      cleanups.push(() => removeDir(dataDir));
      const env = {
        DATA_DIR: dataDir,
        DIRECTORY: 'seatable',
        SEATABLE_SERVER_URL: seatable.url,
        SEATABLE_API_TOKEN: seatable.apiToken,
        TELEGRAM_BOT_TOKEN: telegram.token,
        TELEGRAM_API_ROOT: telegram.apiRoot,
        TELEGRAM_CHAT_INTERVAL_MS: '0',
      };
      const received = (subject: string) =>
        telegram.messagesIn(reader).filter((message) => message.caption?.startsWith(subject)).length;

      let bot = await BotProcess.start(env, START_MS);
      cleanups.push(async () => {
        if (bot.child.exitCode === null) await bot.crash();
      });
      await bot.waitForLine('caught up: the mailbox is in sync', START_MS);
      const first = [reportMail(), reportMail()];
      for (const mail of first) await dovecot.append('user1', mail.raw);
      await telegram.waitForMessages(reader, 2, 20_000);
      expect(await bot.stop()).toBe(0);

      removeDir(dataDir);
      bot = await BotProcess.start(env, START_MS);
      await bot.waitForLine('caught up: the mailbox is in sync', START_MS);
      expect(bot.lines.some((line) => line.includes('starting from now'))).toBe(true);
      await sleep(3000);
      expect(first.map((mail) => received(mail.subject))).toEqual([1, 1]);

      const next = reportMail();
      await dovecot.append('user1', next.raw);
      await eventually(() => received(next.subject) >= 1, 20_000, 'the next mail');
      await sleep(2000);
      expect([...first, next].map((mail) => received(mail.subject))).toEqual([1, 1, 1]);
      expect(telegram.messagesIn(reader)).toHaveLength(3);
      expect(await bot.stop()).toBe(0);
    },
    SLACK_MS,
  );
});
