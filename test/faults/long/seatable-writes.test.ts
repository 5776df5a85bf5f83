/**
 * SeaTable trouble never refuses a registration and never stalls delivery (issue 10 part 5). Two
 * variants run side by side, each with its own fake SeaTable, fake Bot API and bot (one Dovecot):
 * - every third SeaTable call answers 429 with `x-ratelimit-reset` a minute ahead;
 * - SeaTable refuses connections for FAULT_SEATABLE_OUTAGE_MINUTES (default 10), with a restart of
 *   the bot in the middle.
 * In both, a new user and a new group register from the directory copy within seconds, receive the
 * next report, and their Telegram ids (the group's with its lock) reach the base once SeaTable
 * answers, written from the durable queue.
 * FAULT_SEATABLE_ONLY=<part of a name> runs one variant (development).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { directorySeed } from '../../directory/directory-worlds.js';
import { DovecotServer } from '../../dovecot/dovecot.js';
import { FakeSeaTable } from '../../fakes/seatable/fake-seatable.js';
import { FakeTelegram } from '../../fakes/telegram/fake-telegram.js';
import { eventually, type RunningBot, removeDir, startBot } from '../../support/bot-harness.js';
import { reportMail } from '../../support/simple-mail.js';

const OUTAGE_MINUTES = Number(process.env.FAULT_SEATABLE_OUTAGE_MINUTES ?? 10);
const OUTAGE_MS = OUTAGE_MINUTES * 60_000;
/** "Within seconds": from the shared contact (or the promotion) to the bot's confirmation. */
const CONFIRM_WITHIN_MS = 10_000;
const ADMIN_CHAT = 92_000_001;
/**
 * How long the ids may take to reach SeaTable once it answers (at least partly): under 429s with a
 * reset a minute ahead, every call that draws one waits that minute.
 */
const LANDS_WITHIN_MS = 10 * 60_000;

let dovecot: DovecotServer;

beforeAll(async () => {
  dovecot = await DovecotServer.start({ users: 2 });
});

afterAll(async () => {
  await dovecot?.stop();
});

interface Scenario {
  name: string;
  mailboxUser: 'user1' | 'user2';
  /** Ids are apart per variant, so the two never meet. */
  idBase: number;
  /** Starts the fault; returns what ends it. */
  fault(seatable: FakeSeaTable): Promise<() => Promise<void>>;
  /** What happens while the fault lasts, after the registrations and the first report. */
  during(world: World): Promise<void>;
  /** Whether SeaTable answers often enough during the fault for the ids to land before it ends. */
  landsDuringFault: boolean;
}

interface World {
  seatable: FakeSeaTable;
  telegram: FakeTelegram;
  bot: RunningBot;
  restart(): Promise<void>;
  deliverReport(): Promise<void>;
  faultStartedAt: number;
}

const ONLY = process.env.FAULT_SEATABLE_ONLY;

const scenarios: Scenario[] = [
  {
    name: 'every third SeaTable call answers 429 with a reset a minute ahead',
    mailboxUser: 'user1',
    idBase: 92_100_000,
    fault: async (seatable) => {
      const stop = seatable.failEvery(3, 429, { resetInSeconds: 60 });
      return async () => stop();
    },
    during: async () => {},
    landsDuringFault: true,
  },
  {
    name: `SeaTable refuses connections for ${OUTAGE_MINUTES} minutes, with a restart of the bot`,
    mailboxUser: 'user2',
    idBase: 92_200_000,
    fault: async (seatable) => {
      await seatable.goOffline('refuse');
      return () => seatable.goOnline();
    },
    during: async (world) => {
      await world.restart();
      // the queued changes survived the restart: the new user still gets reports
      await world.deliverReport();
      const left = world.faultStartedAt + OUTAGE_MS - Date.now();
      if (left > 0) await new Promise((resolve) => setTimeout(resolve, left));
    },
    landsDuringFault: false,
  },
];

describe.concurrent('SeaTable writes under long faults', () => {
  it.each(scenarios.filter((scenario) => !ONLY || scenario.name.includes(ONLY)))(
    '$name',
    async (scenario) => {
      const telegram = await FakeTelegram.start({ rateLimits: false });
      const known = { id: scenario.idBase + 1, first_name: 'Anna' };
      const newcomer = { id: scenario.idBase + 2, first_name: 'Boris', language_code: 'en' };
      const groupAdmin = { id: scenario.idBase + 3, first_name: 'Vera', language_code: 'en' };
      telegram.addPrivateChat({ id: ADMIN_CHAT, first_name: 'Admins' });
      telegram.addPrivateChat(known);
      telegram.addPrivateChat(newcomer);
      const email = dovecot.address(scenario.mailboxUser);
      const seatable = await FakeSeaTable.start({
        seed: directorySeed({
          mailboxes: [dovecot.mailbox(scenario.mailboxUser)],
          users: [
            { name: 'Anna', phone: '+79992220001', mailboxes: [email], telegramId: known.id },
            { name: 'Boris', phone: '+79992220002', mailboxes: [email] },
          ],
          groups: [{ title: 'BI team', mailboxes: [email] }],
        }),
      });
      const env = {
        DIRECTORY: 'seatable',
        SEATABLE_SERVER_URL: seatable.url,
        SEATABLE_API_TOKEN: seatable.apiToken,
        TELEGRAM_BOT_TOKEN: telegram.token,
        TELEGRAM_API_ROOT: telegram.apiRoot,
        ADMIN_CHAT_ID: String(ADMIN_CHAT),
        TELEGRAM_CHAT_INTERVAL_MS: '0',
      };
      const deps = { seatableRefreshMs: 5000 };
      let bot = await startBot({ env, deps });
      const dataDir = bot.dataDir;
      let reports = 0;
      const documentsIn = (chatId: number) =>
        telegram.messagesIn(chatId).filter((message) => message.type === 'document').length;
      const connected = () =>
        eventually(() => bot.app.listeners.listener(email)?.status().lastSyncAt, 20_000, 'mailbox connected');
      let groupId = 0;
      const deliverReport = async () => {
        await dovecot.append(scenario.mailboxUser, reportMail().raw);
        reports++;
        const want = reports;
        await eventually(() => documentsIn(known.id) >= want, 60_000, `report ${want} to the known user`);
        if (reports > 1) {
          const newcomerWant = reports - 1;
          await eventually(
            () => documentsIn(newcomer.id) >= newcomerWant && documentsIn(groupId) >= newcomerWant,
            60_000,
            `report ${want} to the new user and the new group`,
          );
        }
      };
      const world: World = {
        seatable,
        telegram,
        get bot() {
          return bot;
        },
        faultStartedAt: 0,
        async restart() {
          await bot.stop();
          bot = await startBot({ env, deps, dataDir });
          await connected();
        },
        deliverReport,
      };
      let endFault: (() => Promise<void>) | null = null;
      try {
        await connected();
        await deliverReport();

        endFault = await scenario.fault(seatable);
        world.faultStartedAt = Date.now();

        // a new user shares their phone: confirmed within seconds
        const sharedAt = Date.now();
        await telegram.waitForConfirmation(
          telegram.injectContact(newcomer, { phone_number: '+79992220002' }),
          CONFIRM_WITHIN_MS,
        );
        await eventually(
          () => telegram.messagesIn(newcomer.id).some((message) => message.text?.includes('subscribed')),
          CONFIRM_WITHIN_MS,
          'the newcomer confirmed',
        );
        const userConfirmMs = Date.now() - sharedAt;

        // a new group promotes the bot: registered within seconds
        const promotedAt = Date.now();
        const promotion = telegram.injectMyChatMember({
          chat: { title: 'BI team' },
          from: groupAdmin,
          oldStatus: 'left',
          newStatus: 'administrator',
        });
        groupId = promotion.my_chat_member!.chat.id;
        await telegram.waitForConfirmation(promotion, CONFIRM_WITHIN_MS);
        await eventually(
          () => telegram.messagesIn(groupId).some((message) => message.text?.includes('group is registered')),
          CONFIRM_WITHIN_MS,
          'the group registered',
        );
        const groupConfirmMs = Date.now() - promotedAt;
        expect(telegram.chat(groupId)).toMatchObject({ botStatus: 'administrator' });

        // the next report reaches both
        await deliverReport();
        await scenario.during(world);

        if (!scenario.landsDuringFault) {
          await endFault();
          endFault = null;
        }
        const endedAt = Date.now();
        const boris = () => seatable.rows('Users').find((row) => row.Name === 'Boris');
        const group = () => seatable.rows('Groups').find((row) => row.Name === 'BI team');
        await eventually(
          () => boris()?.['Telegram ID'] === String(newcomer.id) && boris()?.Active === true,
          LANDS_WITHIN_MS,
          "the newcomer's Telegram id in SeaTable",
        );
        await eventually(
          () => group()?.['Telegram ID'] === String(groupId) && group()?.Locked === true,
          LANDS_WITHIN_MS,
          "the group's id and lock in SeaTable",
        );
        const writtenAfterMs = Date.now() - endedAt;
        await bot.app.directory.writesSettled();
        await endFault?.();
        endFault = null;

        // nothing was refused, nothing sent twice, and delivery goes on
        await deliverReport();
        for (const chatId of [newcomer.id, groupId]) {
          expect(telegram.messagesIn(chatId).some((message) => /try again/i.test(message.text ?? ''))).toBe(
            false,
          );
        }
        expect(documentsIn(known.id)).toBe(reports);
        expect(documentsIn(newcomer.id)).toBe(reports - 1);
        expect(documentsIn(groupId)).toBe(reports - 1);
        console.log(
          `${scenario.name}: user confirmed in ${userConfirmMs} ms, group in ${groupConfirmMs} ms; ` +
            `ids in SeaTable ${Math.round(writtenAfterMs / 1000)} s after ${scenario.landsDuringFault ? 'the registrations' : 'the fault ended'}; ` +
            `${reports} reports, none twice`,
        );
      } catch (error) {
        // what the bot said about SeaTable, to see where a write got stuck
        const lines = bot.logs.lines.filter((line) => /SeaTable|directory/i.test(String(line.msg)));
        console.log(lines.map((line) => JSON.stringify(line)).join('\n'));
        throw error;
      } finally {
        await endFault?.();
        await bot.stop();
        removeDir(dataDir);
        await seatable.stop();
        await telegram.stop();
      }
    },
    OUTAGE_MS + LANDS_WITHIN_MS + 10 * 60_000,
  );
});
