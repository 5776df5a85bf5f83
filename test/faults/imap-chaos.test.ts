/**
 * The IMAP side under chaos: Dovecot restarted (with mail delivered while it was down), sessions
 * kicked, UIDVALIDITY changed, while mail keeps arriving. Every mail must reach every chat exactly once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalDirectory } from '../../src/directory/local/local-directory.js';
import { DovecotServer } from '../dovecot/dovecot.js';
import { FakeTelegram } from '../fakes/telegram/fake-telegram.js';
import { eventually, removeDir, startBot } from '../support/bot-harness.js';
import { reportMail } from '../support/simple-mail.js';
import { seededRandom } from './seeded-random.js';

const SEED = Number(process.env.FAULT_SEED ?? 7);
const MAILS = 40;

let dovecot: DovecotServer;
let telegram: FakeTelegram;

beforeAll(async () => {
  dovecot = await DovecotServer.start({ users: 2 });
  telegram = await FakeTelegram.start();
});

afterAll(async () => {
  await telegram?.stop();
  await dovecot?.stop();
});

describe('IMAP chaos', () => {
  it(`delivers ${MAILS} mails exactly once through restarts, kicks and UIDVALIDITY changes`, async () => {
    const bot = await startBot({
      env: {
        TELEGRAM_BOT_TOKEN: telegram.token,
        TELEGRAM_API_ROOT: telegram.apiRoot,
        IMAP_CATCHUP_SECONDS: '5',
      },
    });
    try {
      const directory = bot.app.directory as LocalDirectory;
      const users = ['user1', 'user2'];
      const chats = [8_500_001, 8_500_002];
      for (const [index, user] of users.entries()) {
        const email = dovecot.address(user);
        await directory.addMailbox(dovecot.mailbox(user));
        telegram.addPrivateChat({ id: chats[index]!, first_name: user });
        await directory.addUser({
          name: user,
          phone: `+7999000000${index}`,
          mailboxes: [email],
          telegramId: chats[index]!,
        });
      }
      await eventually(
        () => users.every((user) => bot.app.listeners.listener(dovecot.address(user))?.status().lastSyncAt),
        10_000,
      );

      const random = seededRandom(SEED);
      const sent: Record<string, string[]> = { user1: [], user2: [] };
      const chaos: string[] = [];
      let uidValidity = 5000;
      for (let index = 0; index < MAILS; index++) {
        const user = users[index % 2]!;
        const mail = reportMail();
        sent[user]!.push(mail.subject);
        const roll = random();
        if (roll < 0.12) {
          chaos.push('restart');
          await dovecot.halt();
          // arrives while the server is down: picked up on the next sync
          dovecot.deliverOffline(user, mail.raw);
          await new Promise((resolve) => setTimeout(resolve, 300));
          await dovecot.resume();
          continue;
        }
        if (roll < 0.25) {
          chaos.push('kick');
          await dovecot.kick(user);
        } else if (roll < 0.35) {
          chaos.push('uidvalidity');
          await dovecot.setUidValidity(user, ++uidValidity);
        }
        await dovecot.append(user, mail.raw);
        await new Promise((resolve) => setTimeout(resolve, Math.round(random() * 150)));
      }
      console.log(`IMAP chaos (seed ${SEED}): ${chaos.length} events: ${chaos.join(' ')}`);

      for (const [index, user] of users.entries()) {
        const chatId = chats[index]!;
        await eventually(
          () => telegram.messagesIn(chatId).length >= sent[user]!.length,
          60_000,
          `${user}'s mails`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 6000)); // one more safety-net catch-up
      for (const [index, user] of users.entries()) {
        const captions = telegram.messagesIn(chats[index]!).map((message) => message.caption?.split('\n')[0]);
        expect(captions.sort()).toEqual([...sent[user]!].sort());
      }
      expect(await bot.app.store.countReports()).toBe(MAILS);
    } finally {
      await bot.stop();
      removeDir(bot.dataDir);
    }
  });
});
