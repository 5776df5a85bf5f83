/**
 * The bot as a real process fed the hostile corpus (broken MIME, fake PNGs, zero-byte PDFs, `../`
 * names, unknown charsets, 200 parts, deep nesting, ...), a 60 MB attachment and a bomb of 500 small
 * mails at once. It must not crash, must log every mail, and must still deliver every good report.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalDirectory } from '../../src/directory/local/local-directory.js';
import { openDatabase } from '../../src/store/database.js';
import { SqliteDatabase } from '../../src/store/sqlite-database.js';
import { DovecotServer } from '../dovecot/dovecot.js';
import { FakeTelegram } from '../fakes/telegram/fake-telegram.js';
import { hostileFixtures, stallingHtmlFixtures } from '../fixtures/hostile-mail.js';
import { bigPdfMail, smallMails } from '../fixtures/superset-mail.js';
import { eventually, freePort, removeDir, tempDataDir } from '../support/bot-harness.js';
import { BotProcess } from '../support/bot-process.js';
import { reportMail } from '../support/simple-mail.js';

let dovecot: DovecotServer;
let telegram: FakeTelegram;
let dataDir: string;

beforeAll(async () => {
  dovecot = await DovecotServer.start({ users: 3 });
  telegram = await FakeTelegram.start({ rateLimits: false });
  dataDir = tempDataDir();
});

afterAll(async () => {
  await telegram?.stop();
  await dovecot?.stop();
  if (dataDir) removeDir(dataDir);
});

/** Outcome lines the intake writes, one per mail (see report-intake.ts). */
const OUTCOMES = [
  'report recorded',
  'mail has no PDF or PNG',
  'mail already recorded',
  'mail too large',
  'mail unreadable',
  'not allowed',
];

function outcomeUids(lines: string[], mailbox: string): Set<number> {
  const uids = new Set<number>();
  for (const line of lines) {
    if (!line.startsWith('{')) continue;
    const entry = JSON.parse(line) as { mailbox?: string; uid?: number; msg?: string };
    if (
      entry.mailbox === mailbox &&
      entry.uid !== undefined &&
      OUTCOMES.some((text) => entry.msg?.includes(text))
    ) {
      uids.add(entry.uid);
    }
  }
  return uids;
}

describe('hostile mail at volume', () => {
  it('survives the hostile corpus, a 60 MB attachment and 500 mails at once, and still delivers', async () => {
    const db = openDatabase(dataDir);
    const directory = new LocalDirectory(new SqliteDatabase(db), { phoneRegion: 'RU', pollIntervalMs: 0 });
    const inbox = dovecot.address('user1');
    const bombed = dovecot.address('user2');
    for (const [email, login] of [
      [inbox, 'user1'],
      [bombed, 'user2'],
    ] as const) {
      await directory.addMailbox({
        email,
        host: dovecot.host,
        port: dovecot.port,
        tls: 'none',
        login,
        password: dovecot.password,
      });
    }
    telegram.addPrivateChat({ id: 8_700_001, first_name: 'Reader' });
    await directory.addUser({
      name: 'Reader',
      phone: '+79990001122',
      mailboxes: [inbox],
      telegramId: 8_700_001,
    });
    db.close();

    // the fake's flood limits are off here, and so is the bot's pacing per chat: this test is about input
    const bot = await BotProcess.start({
      DATA_DIR: dataDir,
      TELEGRAM_BOT_TOKEN: telegram.token,
      TELEGRAM_API_ROOT: telegram.apiRoot,
      TELEGRAM_CHAT_INTERVAL_MS: '0',
    });
    try {
      await bot.waitForLine('connected to the mailbox');
      const hostile = hostileFixtures();
      const good: string[] = [];
      let appended = 0;
      let droppedIntoMaildir = 0;
      for (const [index, fixture] of hostile.entries()) {
        try {
          await dovecot.append('user1', fixture.raw);
        } catch {
          // Dovecot refuses some of these over IMAP (NUL bytes, ...); a delivery agent can still drop them in
          dovecot.deliverOffline('user1', fixture.raw);
          droppedIntoMaildir++;
        }
        appended++;
        if (index % 10 === 0) {
          const mail = reportMail();
          good.push(mail.subject);
          await dovecot.append('user1', mail.raw);
          appended++;
        }
      }
      await dovecot.append('user1', bigPdfMail(60 * 1024 * 1024).raw);
      appended++;
      // the bomb lands in the other mailbox, all at once, while the first one keeps working
      const bomb = smallMails(500);
      await Promise.all(
        [0, 1, 2, 3].map(async (worker) => {
          for (let index = worker; index < bomb.length; index += 4)
            await dovecot.append('user2', bomb[index]!.raw);
        }),
      );
      const last = reportMail();
      good.push(last.subject);
      await dovecot.append('user1', last.raw);
      appended++;

      await eventually(
        () => outcomeUids(bot.lines, inbox).size >= appended,
        180_000,
        'a log line for every mail in the inbox',
      );
      await eventually(
        () => outcomeUids(bot.lines, bombed).size >= bomb.length,
        180_000,
        'a log line for every bomb mail',
      );
      const captions = () => telegram.messagesIn(8_700_001).map((message) => message.caption?.split('\n')[0]);
      await eventually(
        () => good.every((subject) => captions().includes(subject)),
        120_000,
        'every good report delivered',
      );
      expect(bot.child.exitCode).toBeNull();
      expect(bot.lines.some((line) => line.includes('mail too large'))).toBe(true);
      console.log(
        `hostile: ${hostile.length} hostile (${droppedIntoMaildir} dropped into the Maildir) + ${good.length} good + 1 of 60 MB in one mailbox, ${bomb.length} in the other; all logged, good ones delivered`,
      );
      expect(await bot.stop()).toBe(0);
    } finally {
      if (bot.child.exitCode === null) await bot.crash();
    }
  });
});

/** The largest event-loop delay since the previous scrape (prom-client resets its monitorEventLoopDelay histogram on each). */
async function eventLoopLagMaxSeconds(metricsUrl: string): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  const line = text.split('\n').find((entry) => entry.startsWith('nodejs_eventloop_lag_max_seconds '));
  if (!line) throw new Error('no nodejs_eventloop_lag_max_seconds in /metrics');
  return Number(line.split(' ')[1]);
}

/**
 * A node process that does nothing but measure its own event-loop delay: what the machine's load
 * alone costs any process, to tell apart from the bot's own stalls.
 */
class IdleProcess {
  private constructor(private readonly child: ChildProcess) {}

  static start(): IdleProcess {
    const child = spawn(
      process.execPath,
      [
        '-e',
        `const h = require('node:perf_hooks').monitorEventLoopDelay({ resolution: 10 }); h.enable();
         process.stdin.on('data', () => { process.stdout.write(h.max / 1e9 + '\\n'); h.reset(); });`,
      ],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    return new IdleProcess(child);
  }

  /** The largest delay since the previous call. */
  async lagMaxSeconds(): Promise<number> {
    const answer = once(this.child.stdout!, 'data');
    this.child.stdin!.write('?\n');
    const [data] = await answer;
    return Number(String(data).trim().split('\n').at(-1));
  }

  stop(): void {
    this.child.kill();
  }
}

describe('mail built to stall the parser', () => {
  it('2 MB bodies of unclosed, nested and long tags never hold the event loop for 100 ms', async () => {
    const stateDir = tempDataDir();
    const db = openDatabase(stateDir);
    const directory = new LocalDirectory(new SqliteDatabase(db), { phoneRegion: 'RU', pollIntervalMs: 0 });
    const inbox = dovecot.address('user3');
    await directory.addMailbox({
      email: inbox,
      host: dovecot.host,
      port: dovecot.port,
      tls: 'none',
      login: 'user3',
      password: dovecot.password,
    });
    telegram.addPrivateChat({ id: 8_700_002, first_name: 'Reader' });
    await directory.addUser({
      name: 'Reader',
      phone: '+79990001133',
      mailboxes: [inbox],
      telegramId: 8_700_002,
    });
    db.close();
    const port = await freePort();
    const bot = await BotProcess.start({
      DATA_DIR: stateDir,
      TELEGRAM_BOT_TOKEN: telegram.token,
      TELEGRAM_API_ROOT: telegram.apiRoot,
      TELEGRAM_CHAT_INTERVAL_MS: '0',
      HTTP_PORT: String(port),
    });
    const control = IdleProcess.start();
    try {
      await bot.waitForLine('connected to the mailbox');
      const metrics = `http://127.0.0.1:${port}/metrics`;
      // start and first connect are over: this scrape opens the window that is measured
      await eventLoopLagMaxSeconds(metrics);
      await control.lagMaxSeconds();
      // (the 500 KB-header fixture is not here: it still holds the loop ~200 ms outside the mail parser,
      // in the IMAP ENVELOPE fetch; see the hand-over notes of issue 11 part 5)
      const stalling = stallingHtmlFixtures();
      for (const fixture of stalling) await dovecot.append('user3', fixture.raw);
      const lags: number[] = [];
      await eventually(
        async () => {
          lags.push(await eventLoopLagMaxSeconds(metrics));
          return outcomeUids(bot.lines, inbox).size >= stalling.length;
        },
        120_000,
        'every stalling mail recorded',
      );
      // each carries a PNG and the real link: they are reports, delivered with their button
      await eventually(() => telegram.messagesIn(8_700_002).length >= stalling.length, 60_000, 'delivered');
      lags.push(await eventLoopLagMaxSeconds(metrics));
      const worst = Math.max(...lags);
      const noise = await control.lagMaxSeconds();
      console.log(
        `stalling HTML: ${stalling.length} mails of 2 MB, worst event-loop delay ${(worst * 1000).toFixed(0)} ms (an idle process on this machine meanwhile: ${(noise * 1000).toFixed(0)} ms)`,
      );
      expect(bot.lines.filter((line) => line.includes('report recorded'))).toHaveLength(stalling.length);
      expect(worst).toBeGreaterThan(0);
      // under 100 ms beyond what merely waiting for a CPU costs any process here (the CPUs are shared)
      expect(worst).toBeLessThan(0.1 + noise);
      expect(await bot.stop()).toBe(0);
    } finally {
      if (bot.child.exitCode === null) await bot.crash();
      control.stop();
      removeDir(stateDir);
    }
  });
});
