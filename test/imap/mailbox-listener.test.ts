/**
 * Mailbox listeners against a real Dovecot: new mail while idling, catch-up after downtime, server
 * kicks and restarts, UIDVALIDITY changes, a broken mailbox next to a working one, no-IDLE servers.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalDirectory } from '../../src/directory/local/local-directory.js';
import { openDatabase } from '../../src/store/database.js';
import { SqliteDatabase } from '../../src/store/sqlite-database.js';
import { DovecotServer } from '../dovecot/dovecot.js';
import { eventually, type RunningBot, removeDir, startBot, tempDataDir } from '../support/bot-harness.js';
import { reportMail } from '../support/simple-mail.js';

let dovecot: DovecotServer;

beforeAll(async () => {
  dovecot = await DovecotServer.start({ users: 16 });
});

afterAll(async () => {
  await dovecot?.stop();
});

async function addMailbox(bot: RunningBot, user: string, extra: { password?: string } = {}) {
  return (bot.app.directory as LocalDirectory).addMailbox({
    email: dovecot.address(user),
    host: dovecot.host,
    port: dovecot.port,
    tls: 'none',
    login: user,
    password: extra.password ?? dovecot.password,
  });
}

async function reportsOf(bot: RunningBot, user: string) {
  return (await bot.app.store.recent(1000)).filter((report) => report.mailbox === dovecot.address(user));
}

function listenerOf(bot: RunningBot, user: string) {
  return bot.app.listeners.listener(dovecot.address(user));
}

describe('mailbox listener', () => {
  it('records a new mail within seconds while idling', async () => {
    const bot = await startBot();
    try {
      await addMailbox(bot, 'user1');
      await eventually(() => listenerOf(bot, 'user1')?.status().state === 'connected', 10_000, 'connection');
      await eventually(() => listenerOf(bot, 'user1')?.status().lastSyncAt, 10_000, 'first catch-up');
      const mail = reportMail();
      const appendedAt = Date.now();
      await dovecot.append('user1', mail.raw);
      const [report] = await eventually(
        async () => (await reportsOf(bot, 'user1')).length === 1 && (await reportsOf(bot, 'user1')),
        10_000,
      );
      const latency = Date.now() - appendedAt;
      console.log(`APPEND → report recorded: ${latency} ms`);
      expect(report!.subject).toBe(mail.subject);
      expect(report!.files).toHaveLength(1);
      expect(report!.files[0]!.contentType).toBe('application/pdf');
      expect(latency).toBeLessThan(5000);
    } finally {
      await bot.stop();
      removeDir(bot.dataDir);
    }
  });

  it('does not forward mail that was in the mailbox before it was added', async () => {
    await dovecot.append('user2', reportMail().raw, {
      internalDate: new Date(Date.now() - 3 * 24 * 3600_000),
    });
    const bot = await startBot();
    try {
      await addMailbox(bot, 'user2');
      await eventually(() => listenerOf(bot, 'user2')?.status().lastSyncAt, 10_000, 'first catch-up');
      const fresh = reportMail();
      await dovecot.append('user2', fresh.raw);
      await eventually(async () => (await reportsOf(bot, 'user2')).length === 1, 10_000, 'the new mail');
      expect((await reportsOf(bot, 'user2')).map((report) => report.subject)).toEqual([fresh.subject]);
    } finally {
      await bot.stop();
      removeDir(bot.dataDir);
    }
  });

  it('catches up, each mail once, on mail that arrived while the bot was stopped', async () => {
    const dataDir = tempDataDir();
    let bot = await startBot({ dataDir });
    await addMailbox(bot, 'user3');
    const first = reportMail();
    await eventually(() => listenerOf(bot, 'user3')?.status().lastSyncAt, 10_000, 'first catch-up');
    await dovecot.append('user3', first.raw);
    await eventually(async () => (await reportsOf(bot, 'user3')).length === 1, 10_000, 'first mail');
    await bot.stop();

    const whileAway = [reportMail(), reportMail(), reportMail()];
    for (const mail of whileAway) await dovecot.append('user3', mail.raw);

    bot = await startBot({ dataDir });
    try {
      await eventually(async () => (await reportsOf(bot, 'user3')).length === 4, 10_000, 'catch-up');
      // a second catch-up finds nothing new
      listenerOf(bot, 'user3')!.checkNow();
      await new Promise((resolve) => setTimeout(resolve, 500));
      const subjects = (await reportsOf(bot, 'user3')).map((report) => report.subject);
      expect(subjects.sort()).toEqual([first, ...whileAway].map((mail) => mail.subject).sort());
    } finally {
      await bot.stop();
      removeDir(dataDir);
    }
  });

  it('reconnects and catches up after a server-side kick and a Dovecot restart', async () => {
    const bot = await startBot();
    try {
      await addMailbox(bot, 'user4');
      await eventually(() => listenerOf(bot, 'user4')?.status().lastSyncAt, 10_000, 'first catch-up');

      await dovecot.kick('user4');
      const afterKick = reportMail();
      await dovecot.append('user4', afterKick.raw);
      await eventually(
        async () => (await reportsOf(bot, 'user4')).length === 1,
        15_000,
        'mail after the kick',
      );

      await dovecot.halt();
      await eventually(
        () => listenerOf(bot, 'user4')?.status().state !== 'connected',
        10_000,
        'noticing the outage',
      );
      await dovecot.resume();
      const afterRestart = reportMail();
      await dovecot.append('user4', afterRestart.raw);
      await eventually(
        async () => (await reportsOf(bot, 'user4')).length === 2,
        20_000,
        'mail after the restart',
      );
      expect(bot.logs.matching('lost the mailbox connection').length).toBeGreaterThan(0);
      expect(bot.logs.matching('reconnected to the mailbox').length).toBeGreaterThan(0);
      expect((await reportsOf(bot, 'user4')).map((report) => report.subject).sort()).toEqual(
        [afterKick.subject, afterRestart.subject].sort(),
      );
    } finally {
      await bot.stop();
      removeDir(bot.dataDir);
    }
  });

  it('records no duplicates when UIDVALIDITY changes, and still records new mail', async () => {
    const bot = await startBot();
    try {
      await addMailbox(bot, 'user5');
      await eventually(() => listenerOf(bot, 'user5')?.status().lastSyncAt, 10_000, 'first catch-up');
      const before = [reportMail(), reportMail()];
      for (const mail of before) await dovecot.append('user5', mail.raw);
      await eventually(async () => (await reportsOf(bot, 'user5')).length === 2, 10_000, 'two mails');

      await dovecot.setUidValidity('user5', 4242);
      const after = reportMail();
      await dovecot.append('user5', after.raw);
      await eventually(
        async () => (await reportsOf(bot, 'user5')).length >= 3,
        20_000,
        'the mail after the change',
      );
      await eventually(() => bot.logs.matching('UIDVALIDITY changed').length > 0, 5000, 'the rescan');
      listenerOf(bot, 'user5')!.checkNow();
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect((await reportsOf(bot, 'user5')).map((report) => report.subject).sort()).toEqual(
        [...before, after].map((mail) => mail.subject).sort(),
      );
    } finally {
      await bot.stop();
      removeDir(bot.dataDir);
    }
  });

  it('keeps a working mailbox running next to one with a wrong password, and says why', async () => {
    const bot = await startBot();
    try {
      await addMailbox(bot, 'user6', { password: 'wrong-password-123' });
      await addMailbox(bot, 'user7');
      await eventually(() => listenerOf(bot, 'user7')?.status().lastSyncAt, 10_000, 'the good mailbox');
      const mail = reportMail();
      await dovecot.append('user7', mail.raw);
      await eventually(
        async () => (await reportsOf(bot, 'user7')).length === 1,
        10_000,
        'mail in the good mailbox',
      );

      const broken = await eventually(
        () => (listenerOf(bot, 'user6')?.status().loginRejected ? listenerOf(bot, 'user6')!.status() : null),
        10_000,
        'the login failure',
      );
      expect(broken.failures).toBeGreaterThan(0);
      expect(broken.lastError).toMatch(/auth|login|fail/i);
      const logged = bot.logs.matching('rejected the login');
      expect(logged.length).toBeGreaterThan(0);
      expect(logged[0]!.mailbox).toBe(dovecot.address('user6'));
      expect(bot.logs.text()).not.toContain('wrong-password-123');
    } finally {
      await bot.stop();
      removeDir(bot.dataDir);
    }
  });

  it('leaves mail unread by default, and marks it \\Seen when the mailbox asks for it', async () => {
    const bot = await startBot();
    try {
      const directory = bot.app.directory as LocalDirectory;
      for (const [user, markSeen] of [
        ['user9', false],
        ['user10', true],
      ] as const) {
        await directory.addMailbox({
          email: dovecot.address(user),
          host: dovecot.host,
          port: dovecot.port,
          tls: 'none',
          login: user,
          password: dovecot.password,
          markSeen,
        });
        await eventually(() => listenerOf(bot, user)?.status().lastSyncAt, 10_000, 'first catch-up');
        await dovecot.append(user, reportMail().raw);
        await eventually(async () => (await reportsOf(bot, user)).length === 1, 10_000, 'the mail');
      }
      const flagsOf = async (user: string) => {
        const client = dovecot.client(user);
        await client.connect();
        try {
          await client.mailboxOpen('INBOX', { readOnly: true });
          const message = await client.fetchOne('*', { flags: true });
          return message ? [...(message.flags ?? [])] : [];
        } finally {
          await client.logout();
        }
      };
      expect(await flagsOf('user9')).not.toContain('\\Seen');
      await eventually(async () => (await flagsOf('user10')).includes('\\Seen'), 5000, 'the \\Seen flag');
    } finally {
      await bot.stop();
      removeDir(bot.dataDir);
    }
  });

  it('starts and stops listeners when mailboxes are added and removed while running', async () => {
    const bot = await startBot();
    try {
      await addMailbox(bot, 'user8');
      await eventually(
        () => listenerOf(bot, 'user8')?.status().state === 'connected',
        10_000,
        'listener started',
      );
      await (bot.app.directory as LocalDirectory).removeMailbox(dovecot.address('user8'));
      await eventually(() => listenerOf(bot, 'user8') === undefined, 5000, 'listener stopped');
    } finally {
      await bot.stop();
      removeDir(bot.dataDir);
    }
  });
});

describe('mailbox listener without a watermark', () => {
  const hoursAgo = (hours: number) => new Date(Date.now() - hours * 3600_000);
  /** A DATA_DIR whose directory row for `user` was created at `createdAt` (as by the CLI, or a lost DATA_DIR). */
  const dataDirWithMailbox = async (user: string, createdAt: Date) => {
    const dataDir = tempDataDir();
    const db = openDatabase(dataDir);
    await new LocalDirectory(new SqliteDatabase(db), { phoneRegion: 'RU', pollIntervalMs: 0 }).addMailbox(
      dovecot.mailbox(user),
    );
    db.prepare('UPDATE mailboxes SET created_at = ?').run(createdAt.toISOString());
    db.close();
    return dataDir;
  };

  it('starts from now when the mailbox was added longer ago than the lookback', async () => {
    // arrived after the row was created, but a day and more before the (first) connect
    const old = reportMail();
    await dovecot.append('user12', old.raw, { internalDate: hoursAgo(30) });
    const dataDir = await dataDirWithMailbox('user12', hoursAgo(30 * 24));
    const bot = await startBot({ dataDir, env: { IMAP_FIRST_SYNC_LOOKBACK_HOURS: '24' } });
    try {
      await eventually(() => listenerOf(bot, 'user12')?.status().lastSyncAt, 10_000, 'first catch-up');
      expect(bot.logs.matching('starting from now').length).toBe(1);
      const fresh = reportMail();
      await dovecot.append('user12', fresh.raw);
      await eventually(async () => (await reportsOf(bot, 'user12')).length >= 1, 10_000, 'the new mail');
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect((await reportsOf(bot, 'user12')).map((report) => report.subject)).toEqual([fresh.subject]);
    } finally {
      await bot.stop();
      removeDir(dataDir);
    }
  });

  it("starts at the row's creation when that is within the lookback", async () => {
    const before = reportMail();
    const since = reportMail();
    await dovecot.append('user13', before.raw, { internalDate: hoursAgo(5) });
    await dovecot.append('user13', since.raw, { internalDate: hoursAgo(1) });
    const dataDir = await dataDirWithMailbox('user13', hoursAgo(3));
    const bot = await startBot({ dataDir });
    try {
      await eventually(
        async () => (await reportsOf(bot, 'user13')).length >= 1,
        10_000,
        'the mail since the row was added',
      );
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect((await reportsOf(bot, 'user13')).map((report) => report.subject)).toEqual([since.subject]);
    } finally {
      await bot.stop();
      removeDir(dataDir);
    }
  });

  it('starts afresh when a mailbox is removed and added again: the gap is not replayed', async () => {
    const bot = await startBot();
    try {
      await addMailbox(bot, 'user14');
      await eventually(() => listenerOf(bot, 'user14')?.status().lastSyncAt, 10_000, 'first catch-up');
      // arrival times in the past, so the clock slack of a fresh start (a minute) does not reach them
      const first = reportMail();
      await dovecot.append('user14', first.raw, { internalDate: new Date(Date.now() - 20 * 60_000) });
      await eventually(async () => (await reportsOf(bot, 'user14')).length === 1, 10_000, 'the first mail');
      await (bot.app.directory as LocalDirectory).removeMailbox(dovecot.address('user14'));
      await eventually(() => listenerOf(bot, 'user14') === undefined, 5000, 'listener stopped');
      // arrived while the mailbox was removed (minutes before it is added again)
      await dovecot.append('user14', reportMail().raw, { internalDate: new Date(Date.now() - 10 * 60_000) });
      await addMailbox(bot, 'user14');
      await eventually(
        () => listenerOf(bot, 'user14')?.status().lastSyncAt,
        10_000,
        'catch-up after re-adding',
      );
      expect(bot.logs.matching('removed and added again').length).toBe(1);
      const next = reportMail();
      await dovecot.append('user14', next.raw);
      await eventually(async () => (await reportsOf(bot, 'user14')).length >= 2, 10_000, 'the next mail');
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect((await reportsOf(bot, 'user14')).map((report) => report.subject).sort()).toEqual(
        [first.subject, next.subject].sort(),
      );
    } finally {
      await bot.stop();
      removeDir(bot.dataDir);
    }
  });
});

describe('a mail whose own bytes cannot be read', () => {
  it('is recorded as unreadable once, with its raw bytes kept in the spool, and the next mail flows', async () => {
    const bot = await startBot();
    try {
      await addMailbox(bot, 'user15');
      await eventually(() => listenerOf(bot, 'user15')?.status().lastSyncAt, 10_000, 'first catch-up');
      const garbage = `no header here, only text ${Date.now()}\r\n\r\nand more\r\n`;
      await dovecot.append('user15', garbage);
      const [report] = await eventually(
        async () => (await reportsOf(bot, 'user15')).length === 1 && (await reportsOf(bot, 'user15')),
        10_000,
        'the unreadable mail',
      );
      expect(report!.status).toBe('unreadable');
      expect(report!.reason).toMatch(/no mail header/);
      const raw = path.join(report!.spoolDir!, 'message.eml');
      expect(existsSync(raw)).toBe(true);
      expect(readFileSync(raw, 'utf8')).toBe(garbage);
      const next = reportMail();
      await dovecot.append('user15', next.raw);
      await eventually(async () => (await reportsOf(bot, 'user15')).length === 2, 10_000, 'the next mail');
      expect((await reportsOf(bot, 'user15'))[0]!.subject).toBe(next.subject);
      expect(listenerOf(bot, 'user15')!.status().state).toBe('connected');
    } finally {
      await bot.stop();
      removeDir(bot.dataDir);
    }
  });
});

describe('a mail that cannot be recorded for a while', () => {
  it('is retried, not recorded as unreadable, while the database is locked by another process', async () => {
    const bot = await startBot();
    try {
      await addMailbox(bot, 'user16');
      await eventually(() => listenerOf(bot, 'user16')?.status().lastSyncAt, 10_000, 'first catch-up');
      // another process (a CLI command, a backup) holds the write lock longer than busy_timeout (5 s)
      const other = new Database(path.join(bot.dataDir, 'bot.sqlite'));
      other.exec('BEGIN IMMEDIATE');
      const mail = reportMail();
      try {
        await dovecot.append('user16', mail.raw);
        await eventually(
          () => listenerOf(bot, 'user16')!.status().lastError?.includes('could not be read, will retry'),
          20_000,
          'the busy database noticed',
        );
        await new Promise((resolve) => setTimeout(resolve, 8000));
        expect(listenerOf(bot, 'user16')!.status().state).not.toBe('connected');
      } finally {
        other.exec('COMMIT');
        other.close();
      }
      const [report] = await eventually(
        async () => (await reportsOf(bot, 'user16')).length === 1 && (await reportsOf(bot, 'user16')),
        30_000,
        'the mail once the lock is gone',
      );
      expect(report!.subject).toBe(mail.subject);
      expect(report!.status).toBe('forward');
      await eventually(() => listenerOf(bot, 'user16')!.status().state === 'connected', 10_000, 'in sync');
    } finally {
      await bot.stop();
      removeDir(bot.dataDir);
    }
  }, 60_000);
});

describe('mailbox listener on a server without IDLE', () => {
  let noIdle: DovecotServer;

  beforeAll(async () => {
    noIdle = await DovecotServer.start({ users: 1, noIdle: true });
  });

  afterAll(async () => {
    await noIdle?.stop();
  });

  it('finds new mail by polling', async () => {
    const bot = await startBot({ env: { IMAP_IDLE_RESTART_SECONDS: '2' } });
    try {
      await (bot.app.directory as LocalDirectory).addMailbox(noIdle.mailbox('user1'));
      const listener = () => bot.app.listeners.listener(noIdle.address('user1'));
      await eventually(() => listener()?.status().lastSyncAt, 10_000, 'first catch-up');
      expect(listener()!.status().idleSupported).toBe(false);
      const mail = reportMail();
      await noIdle.append('user1', mail.raw);
      const reports = await eventually(async () => {
        const found = (await bot.app.store.recent(10)).filter(
          (report) => report.mailbox === noIdle.address('user1'),
        );
        return found.length === 1 && found;
      }, 15_000);
      expect(reports[0]!.subject).toBe(mail.subject);
    } finally {
      await bot.stop();
      removeDir(bot.dataDir);
    }
  });
});
