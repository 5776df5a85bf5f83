/**
 * One running bot per DATA_DIR: a second `start` on the same directory (a rolling deploy, `docker
 * compose run` of the service) refuses within seconds and names the holder; the CLI commands that edit
 * the directory keep working meanwhile; a holder killed with -9 leaves nothing that blocks the next start.
 * When the lock file is deleted under a running bot and a second bot takes the new one, the first stops
 * sending at once and exits non-zero: nothing goes twice.
 */
import { rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalDirectory } from '../../src/directory/local/local-directory.js';
import { openDatabase } from '../../src/store/database.js';
import { LOCK_FILE } from '../../src/store/instance-lock.js';
import { SqliteDatabase } from '../../src/store/sqlite-database.js';
import { DovecotServer } from '../dovecot/dovecot.js';
import { FakeTelegram } from '../fakes/telegram/fake-telegram.js';
import { eventually, removeDir, tempDataDir } from '../support/bot-harness.js';
import { BotProcess, runCli } from '../support/bot-process.js';
import { subscribeReaders } from '../support/readers.js';
import { reportMail } from '../support/simple-mail.js';

let dovecot: DovecotServer;
let telegram: FakeTelegram;
let dataDir: string;

beforeAll(async () => {
  dovecot = await DovecotServer.start({ users: 2 });
  telegram = await FakeTelegram.start();
  dataDir = tempDataDir();
});

afterAll(async () => {
  await telegram?.stop();
  await dovecot?.stop();
  if (dataDir) removeDir(dataDir);
});

describe('two bots on one DATA_DIR', () => {
  it('refuses the second start, keeps the CLI working, and lets a new bot take over after kill -9', async () => {
    const db = openDatabase(dataDir);
    const directory = new LocalDirectory(new SqliteDatabase(db), { phoneRegion: 'RU', pollIntervalMs: 0 });
    const email = dovecot.address('user1');
    await directory.addMailbox(dovecot.mailbox('user1'));
    const [reader] = await subscribeReaders(telegram, directory, email, 1, { firstChatId: 9_400_001 });
    db.close();
    const env = {
      DATA_DIR: dataDir,
      TELEGRAM_BOT_TOKEN: telegram.token,
      TELEGRAM_API_ROOT: telegram.apiRoot,
      HTTP_PORT: '0',
      LOG_LEVEL: 'info',
    };

    const first = await BotProcess.start(env);
    const bots = [first];
    try {
      await first.waitForLine('connected to the mailbox');

      // a second `start` on the same directory: refused, quickly, naming the holder
      const startedAt = Date.now();
      const second = await runCli(['start'], env, { timeoutMs: 30_000 });
      const refusedAfterMs = Date.now() - startedAt;
      expect(second.code).not.toBe(0);
      const refusal = second.stderr + second.stdout;
      expect(refusal).toContain('in use by another running bot');
      expect(refusal).toContain(`process ${first.child.pid} on host ${os.hostname()}`);
      expect(refusal).toMatch(/running since \d{4}-\d\d-\d\dT/);
      expect(refusal).not.toContain(telegram.token);
      expect(refusedAfterMs).toBeLessThan(10_000);
      expect(first.child.exitCode).toBeNull();

      // the commands that only edit the directory work while the bot runs, and the bot follows them
      telegram.addPrivateChat({ id: 9_400_002, first_name: 'Late' });
      const added = await runCli(
        [
          'user',
          'add',
          '--name',
          'Late',
          '--phone',
          '+79994000002',
          '--mailbox',
          email,
          '--telegram-id',
          '9400002',
        ],
        env,
      );
      expect(added.code, added.stderr).toBe(0);
      const users = JSON.parse((await runCli(['user', 'list', '--json'], env)).stdout) as Array<{
        name: string;
      }>;
      expect(users.map((user) => user.name)).toContain('Late');
      expect((await runCli(['reports', '--json'], env)).code).toBe(0);
      // the bot re-reads the embedded directory every few seconds
      await new Promise((resolve) => setTimeout(resolve, 3000));

      const mail = reportMail();
      await dovecot.append('user1', mail.raw);
      await telegram.waitForMessages(reader!, 1, 20_000);
      await telegram.waitForMessages(9_400_002, 1, 20_000);

      // (a kill -9 between a send and its commit may repeat that message: wait for the commits first)
      await eventually(
        async () => {
          const listed = JSON.parse((await runCli(['reports', '--json'], env)).stdout) as Array<{
            deliveries: Array<{ state: string }>;
          }>;
          return listed.length === 1 && listed[0]!.deliveries.every((delivery) => delivery.state === 'sent');
        },
        20_000,
        'both deliveries recorded as sent',
      );
      // the holder dies without a chance to clean up: the next start takes over at once
      await first.crash();
      const third = await BotProcess.start(env);
      bots.push(third);
      await third.waitForLine('connected to the mailbox');
      const next = reportMail();
      await dovecot.append('user1', next.raw);
      await eventually(
        () =>
          [reader!, 9_400_002].every((chat) =>
            telegram.messagesIn(chat).some((message) => message.caption?.startsWith(next.subject)),
          ),
        20_000,
        'the next report in both chats',
      );
      // let anything in flight land, then count: each report exactly once per chat
      await new Promise((resolve) => setTimeout(resolve, 1500));
      for (const chat of [reader!, 9_400_002]) {
        const captions = telegram.messagesIn(chat).map((message) => message.caption ?? '');
        expect(captions.filter((caption) => caption.startsWith(mail.subject))).toHaveLength(1);
        expect(captions.filter((caption) => caption.startsWith(next.subject))).toHaveLength(1);
      }
      expect(await third.stop()).toBe(0);

      // after a clean stop the directory is free again
      const fourth = await BotProcess.start(env);
      bots.push(fourth);
      expect(await fourth.stop()).toBe(0);
    } finally {
      for (const bot of bots) if (bot.child.exitCode === null) await bot.crash();
    }
  });
});

describe('a second bot taking a deleted lock file', () => {
  it('makes the first bot stop sending and exit non-zero: each report goes once', async () => {
    const ownDir = tempDataDir();
    const db = openDatabase(ownDir);
    const directory = new LocalDirectory(new SqliteDatabase(db), { phoneRegion: 'RU', pollIntervalMs: 0 });
    const email = dovecot.address('user2');
    await directory.addMailbox(dovecot.mailbox('user2'));
    const [reader] = await subscribeReaders(telegram, directory, email, 1, { firstChatId: 9_410_001 });
    db.close();
    const env = {
      DATA_DIR: ownDir,
      TELEGRAM_BOT_TOKEN: telegram.token,
      TELEGRAM_API_ROOT: telegram.apiRoot,
      HTTP_PORT: '0',
      LOG_LEVEL: 'info',
      // long enough for a second bot to start (node, config, SQLite) on a loaded machine before the
      // first puts the deleted lock file back
      INSTANCE_LOCK_CHECK_SECONDS: '8',
    };
    const first = await BotProcess.start(env);
    const bots = [first];
    try {
      await first.waitForLine('connected to the mailbox');
      const before = reportMail();
      await dovecot.append('user2', before.raw);
      await telegram.waitForMessages(reader!, 1, 20_000);

      // a clean-up script deletes bot.lock; a second bot starts before the first puts it back (if the
      // first was quicker, the second is refused: delete and start again)
      let second: BotProcess | null = null;
      for (let tries = 0; tries < 5 && !second; tries++) {
        rmSync(path.join(ownDir, LOCK_FILE), { force: true });
        try {
          second = await BotProcess.start(env);
          bots.push(second);
        } catch {
          second = null;
        }
      }
      expect(second, 'a second bot got the new lock').not.toBeNull();
      // the first notices within a check interval and exits with an error that says why
      const code = await Promise.race([
        first.exited,
        new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), 30_000)),
      ]);
      expect(code).not.toBe('still running');
      expect(code).not.toBe(0);
      expect(first.lines.join('\n')).toContain('another bot holds the new one');
      expect(first.lines.join('\n')).not.toContain(telegram.token);

      // the second bot alone sends the next report: once
      await second!.waitForLine('connected to the mailbox');
      const after = reportMail();
      await dovecot.append('user2', after.raw);
      await eventually(
        () => telegram.messagesIn(reader!).some((message) => message.caption?.startsWith(after.subject)),
        20_000,
        'the next report',
      );
      await new Promise((resolve) => setTimeout(resolve, 3000));
      const captions = telegram.messagesIn(reader!).map((message) => message.caption ?? '');
      expect(captions.filter((caption) => caption.startsWith(before.subject))).toHaveLength(1);
      expect(captions.filter((caption) => caption.startsWith(after.subject))).toHaveLength(1);
      expect(await second!.stop()).toBe(0);
    } finally {
      for (const bot of bots) if (bot.child.exitCode === null) await bot.crash();
      removeDir(ownDir);
    }
  });
});
