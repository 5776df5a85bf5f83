/**
 * The leader-kill run of issue 14 (part 3), shared by the fault test (test/faults/high-availability.test.ts)
 * and the failover benchmark (bench/failover.ts): two instances on a throwaway PostgreSQL cluster, reports
 * fanning out to many chats (an album of three screenshots and the PDF each); the leader is killed with
 * kill -9 at seeded random moments while it sends, the standby takes over, the killed one is restarted as
 * the new standby. Everything it started is stopped and removed at the end, also on failure.
 */
import type { DovecotServer } from '../dovecot/dovecot.js';
import { FakeTelegram } from '../fakes/telegram/fake-telegram.js';
import { seededRandom } from '../faults/seeded-random.js';
import { eventually } from './bot-harness.js';
import {
  BotPair,
  DURABLE_COMMITS,
  duplicateSends,
  LEADING_NOW,
  loggedAt,
  type PairInstance,
  prepareDirectoryInPostgres,
  tallyReports,
} from './bot-pair.js';
import { PostgresCluster } from './postgres-cluster.js';
import { pngReportMail } from './simple-mail.js';

export interface LeaderKillOptions {
  dovecot: DovecotServer;
  /** The Dovecot user whose INBOX the bots listen to (each run its own). */
  user: string;
  kills: number;
  seed: number;
  chats: number;
  leaseSeconds: number;
  /** Chat id of the first reader. */
  firstChatId: number;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
  /**
   * Also hands each clean-up step to the caller (the benchmark's interrupt handler); the run does them
   * itself at its end, and each step may run twice.
   */
  register?: (what: string, release: () => Promise<void>) => void;
}

/** One kill of the leader. */
export interface LeaderKill {
  /** ms from the killed leader's first send of the round to the kill. */
  momentMs: number;
  killed: string;
  successor: string;
  /** Captioned messages still owed to the chats when the leader was killed (0: the kill hit no fan-out). */
  pendingAtKill: number;
  /** kill -9 → the successor logs "leading now", ms. */
  takeoverMs: number;
  /** kill -9 → the first send call of the successor arrives at the fake, ms. */
  failoverMs: number;
  /** The leader /healthz and /readyz named once the killed one was back as standby. */
  leaderAfterRestart: string;
}

export interface LeaderKillRun {
  kills: LeaderKill[];
  reports: number;
  chats: number;
  /** Report × chat pairs that never got the whole report. */
  lost: number;
  /** Captioned messages beyond one per report part (album head, document). */
  duplicates: number;
  /** Whether every process was running at the end. */
  allRunning: boolean;
  /** The report parts a chat received more than once, with who sent them when. */
  repeated: ReturnType<typeof duplicateSends>;
}

/** Captioned messages per report per chat: the album's head and the document. */
const PER_REPORT = 2;

export async function runLeaderKills(options: LeaderKillOptions): Promise<LeaderKillRun> {
  const log = options.log ?? (() => undefined);
  const cleanups: Array<() => Promise<void>> = [];
  const hold = (what: string, release: () => Promise<void>) => {
    cleanups.push(release);
    options.register?.(what, release);
  };
  let pair: BotPair | undefined;
  try {
    const cluster = await PostgresCluster.start({ extraConf: DURABLE_COMMITS });
    hold('PostgreSQL cluster', () => cluster.destroy());
    const databaseUrl = await cluster.createDatabase();
    const telegram = await FakeTelegram.start();
    hold('fake Bot API', () => telegram.stop());
    const chats = await prepareDirectoryInPostgres({
      databaseUrl,
      dovecot: options.dovecot,
      user: options.user,
      telegram,
      readers: options.chats,
      firstChatId: options.firstChatId,
    });
    pair = await BotPair.create({ databaseUrl, telegram, leaseSeconds: options.leaseSeconds });
    const created = pair;
    hold('bot processes', () => created.destroy());
    await pair.startAll();
    let leader = await pair.settledLeader();
    const random = seededRandom(options.seed);
    const subjects: string[] = [];
    const kills: LeaderKill[] = [];

    for (let round = 0; round < options.kills; round++) {
      const standby = pair.instances.find((instance) => instance !== leader)!;
      // a new report each round, so every kill falls into a fan-out
      const mail = pngReportMail({
        withPdf: true,
        screenshots: [
          { width: 1200, height: 800 },
          { width: 1200, height: 900 },
          { width: 1200, height: 700 },
        ],
      });
      subjects.push(mail.subject);
      const appendedAt = Date.now();
      await options.dovecot.append(options.user, mail.raw);
      const sending = await pair.firstSendSince(leader, appendedAt);
      const momentMs = Math.round(200 + random() * 2800);
      await sleep(Math.max(0, sending.at + momentMs - Date.now()));
      const pendingAtKill = tallyReports(telegram, chats, subjects, PER_REPORT).pending;
      const killedAt = Date.now();
      await pair.crash(leader);
      log(`kill ${round + 1} at ${new Date(killedAt).toISOString().slice(11, 23)}`);
      const tookOverAt = await loggedAt(standby.process!, LEADING_NOW, options.leaseSeconds * 1000 + 30_000);
      const firstSend = await pair.firstSendSince(standby, killedAt);
      // the killed one comes back as the new standby
      await pair.startInstance(leader);
      const leaderAfterRestart = await pair.settledLeader();
      const kill: LeaderKill = {
        momentMs,
        killed: leader.name,
        successor: standby.name,
        pendingAtKill,
        takeoverMs: tookOverAt - killedAt,
        failoverMs: firstSend.at - killedAt,
        leaderAfterRestart: leaderAfterRestart.name,
      };
      kills.push(kill);
      log(
        `kill ${round + 1}: ${kill.killed} killed ${momentMs} ms into its sending (${pendingAtKill} messages owed); ` +
          `${kill.successor} leads after ${kill.takeoverMs} ms, sends after ${kill.failoverMs} ms`,
      );
      leader = standby as PairInstance;
    }

    await eventually(
      () => tallyReports(telegram, chats, subjects, PER_REPORT).lost === 0,
      180_000,
      'every report in every chat',
    );
    // let anything still in flight land before counting
    await sleep(1500);
    const tally = tallyReports(telegram, chats, subjects, PER_REPORT);
    const allRunning = pair.instances.every((instance) => instance.process?.child.exitCode === null);
    return {
      kills,
      reports: subjects.length,
      chats: chats.length,
      lost: tally.lost,
      duplicates: tally.duplicates,
      allRunning,
      repeated: duplicateSends(telegram, subjects),
    };
  } catch (error) {
    if (pair && error instanceof Error) error.message += `\n${pair.tail()}`;
    throw error;
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
