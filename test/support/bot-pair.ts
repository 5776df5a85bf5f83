/**
 * Bot instances sharing one state in PostgreSQL (DATABASE_URL) and one fake Bot API, each a real
 * process (`node dist/cli.js start`) with its own DATA_DIR, ops port (/healthz, /readyz) and API root on
 * the fake (`apiRootFor(name)`), so every call in the fake's log says which instance made it. For the
 * high-availability fault tests (test/faults/high-availability.test.ts) and the failover benchmark.
 */
import { LocalDirectory } from '../../src/directory/local/local-directory.js';
import { openPostgresDatabase } from '../../src/store/postgres-schema.js';
import type { DovecotServer } from '../dovecot/dovecot.js';
import type { CallLogEntry, FakeTelegram } from '../fakes/telegram/fake-telegram.js';
import { eventually, freePort, removeDir, tempDataDir } from './bot-harness.js';
import { BotProcess } from './bot-process.js';
import { subscribeReaders } from './readers.js';

/** What the leader logs when it takes the lease, and what every instance logs when it starts competing. */
export const LEADING_NOW = '"msg":"leading now"';
export const COMPETING = 'competing for the leader lease';

/**
 * postgresql.conf lines of the clusters these tests run the bot against: the test template turns
 * `synchronous_commit` off for speed, which lets a crashed server (stop immediate) forget commits it
 * had acknowledged; a production server keeps them, and "at most one repeat" relies on that.
 */
export const DURABLE_COMMITS = 'synchronous_commit = on';

/** Bot API methods that put a message into a chat (what "sends nothing" counts). */
export function isSend(entry: CallLogEntry): boolean {
  return /^(send|copy|forward|edit)/i.test(entry.method);
}

/** One instance: its settings stay across restarts, its process changes. */
export interface PairInstance {
  /** `a`, `b`: also its source in the fake's call log. */
  readonly name: string;
  readonly dataDir: string;
  readonly httpPort: number;
  readonly env: Record<string, string>;
  /** The running process (null between a kill and the restart). */
  process: BotProcess | null;
}

export interface BotPairOptions {
  databaseUrl: string;
  telegram: FakeTelegram;
  /** LEASE_SECONDS of every instance. */
  leaseSeconds: number;
  /** Instance names (default `a`, `b`). */
  names?: string[];
  /** More settings for every instance. */
  env?: Record<string, string>;
}

/** What /healthz and /readyz say an instance is. */
export type Role = 'leader' | 'standby';

export interface OpsAnswer {
  status: number;
  body: { role?: Role; status?: string; ready?: boolean } & Record<string, unknown>;
}

export class BotPair {
  readonly instances: PairInstance[];

  private constructor(
    readonly telegram: FakeTelegram,
    instances: PairInstance[],
  ) {
    this.instances = instances;
  }

  /** Prepares the instances (nothing runs yet: {@link startInstance}). */
  static async create(options: BotPairOptions): Promise<BotPair> {
    const instances: PairInstance[] = [];
    for (const name of options.names ?? ['a', 'b']) {
      const dataDir = tempDataDir();
      const httpPort = await freePort();
      instances.push({
        name,
        dataDir,
        httpPort,
        env: {
          DATA_DIR: dataDir,
          DATABASE_URL: options.databaseUrl,
          LEASE_SECONDS: String(options.leaseSeconds),
          TELEGRAM_BOT_TOKEN: options.telegram.token,
          TELEGRAM_API_ROOT: options.telegram.apiRootFor(name),
          HTTP_PORT: String(httpPort),
          ...options.env,
        },
        process: null,
      });
    }
    return new BotPair(options.telegram, instances);
  }

  instance(name: string): PairInstance {
    const found = this.instances.find((instance) => instance.name === name);
    if (!found) throw new Error(`no instance ${name}`);
    return found;
  }

  /** Starts the instance's process and waits until it competes for the lease. */
  async startInstance(instance: PairInstance): Promise<BotProcess> {
    if (instance.process && instance.process.child.exitCode === null) {
      throw new Error(`instance ${instance.name} is running`);
    }
    instance.process = await BotProcess.start(instance.env, 30_000);
    await instance.process.waitForLine(COMPETING, 15_000);
    return instance.process;
  }

  /** Starts every instance one after the other (the first one started becomes the leader). */
  async startAll(): Promise<void> {
    const [first, ...others] = this.instances;
    await this.startInstance(first!);
    await first!.process!.waitForLine(LEADING_NOW, 30_000);
    for (const instance of others) await this.startInstance(instance);
  }

  /** kill -9 of the instance's process. */
  async crash(instance: PairInstance): Promise<void> {
    const running = instance.process;
    instance.process = null;
    if (running && running.child.exitCode === null && running.child.signalCode === null) {
      await running.crash();
    }
  }

  /** `/healthz` or `/readyz` of the instance. */
  async ops(instance: PairInstance, path: '/healthz' | '/readyz'): Promise<OpsAnswer> {
    const response = await fetch(`http://127.0.0.1:${instance.httpPort}${path}`, {
      signal: AbortSignal.timeout(5000),
    });
    return { status: response.status, body: (await response.json()) as OpsAnswer['body'] };
  }

  /** The running instances' roles as /healthz and /readyz say them. */
  async roles(): Promise<Array<{ instance: PairInstance; healthz: OpsAnswer; readyz: OpsAnswer }>> {
    const running = this.instances.filter((instance) => instance.process?.child.exitCode === null);
    return await Promise.all(
      running.map(async (instance) => ({
        instance,
        healthz: await this.ops(instance, '/healthz'),
        readyz: await this.ops(instance, '/readyz'),
      })),
    );
  }

  /**
   * Waits until exactly one running instance says `leader` (in /healthz and /readyz alike) and every
   * other says `standby`, all with /healthz 200 and /readyz 200; returns the leader.
   */
  async settledLeader(timeoutMs = 30_000): Promise<PairInstance> {
    let last = '';
    try {
      return await eventually(
        async () => {
          const roles = await this.roles();
          last = roles
            .map(
              ({ instance, healthz, readyz }) =>
                `${instance.name}: healthz ${healthz.status} ${healthz.body.role}, readyz ${readyz.status} ${readyz.body.role}`,
            )
            .join('; ');
          const leaders = roles.filter(
            ({ healthz, readyz }) => healthz.body.role === 'leader' && readyz.body.role === 'leader',
          );
          const standbys = roles.filter(
            ({ healthz, readyz }) => healthz.body.role === 'standby' && readyz.body.role === 'standby',
          );
          const allAnswer = roles.every(
            ({ healthz, readyz }) => healthz.status === 200 && readyz.status === 200,
          );
          return leaders.length === 1 && standbys.length === roles.length - 1 && allAnswer
            ? leaders[0]!.instance
            : undefined;
        },
        timeoutMs,
        'exactly one leader, the others standing by, all ready',
      );
    } catch (error) {
      throw new Error(`${(error as Error).message} (last seen: ${last})`);
    }
  }

  /** The first send call of `instance` that arrived at the fake at or after `since` (ms epoch). */
  firstSendSince(instance: PairInstance, since: number, timeoutMs = 30_000): Promise<CallLogEntry> {
    return this.telegram.waitForCall(
      (entry) => entry.source === instance.name && entry.at >= since && isSend(entry),
      timeoutMs,
    );
  }

  /** Send calls of `instance` that arrived at or after `since`. */
  sendsSince(instance: PairInstance, since: number): CallLogEntry[] {
    return this.telegram.calls.filter(
      (entry) => entry.source === instance.name && entry.at >= since && isSend(entry),
    );
  }

  /** The last log lines of each running instance, for a failure's message. */
  tail(lines = 12): string {
    return this.instances
      .map((instance) => `--- ${instance.name}:\n${(instance.process?.lines ?? []).slice(-lines).join('\n')}`)
      .join('\n');
  }

  /** kill -9 of every process still running; removes the DATA_DIRs. */
  async destroy(): Promise<void> {
    for (const instance of this.instances) {
      await this.crash(instance).catch(() => undefined);
      removeDir(instance.dataDir);
    }
  }
}

/** The `time` (ms epoch) of the process's first JSON log line containing `text`. */
export async function loggedAt(bot: BotProcess, text: string, timeoutMs: number): Promise<number> {
  const line = await bot.waitForLine(text, timeoutMs);
  // ISO text (the bot's logger), or ms since the epoch (pino's default)
  const { time } = JSON.parse(line) as { time: string | number };
  return typeof time === 'number' ? time : Date.parse(time);
}

/**
 * Sets up the embedded directory in PostgreSQL (DATABASE_URL, default schema) as the CLI would: the
 * Dovecot user's mailbox, and `readers` subscribed readers with private chats on the fake.
 */
export async function prepareDirectoryInPostgres(options: {
  databaseUrl: string;
  dovecot: DovecotServer;
  user: string;
  telegram: FakeTelegram;
  readers: number;
  firstChatId: number;
}): Promise<number[]> {
  const db = await openPostgresDatabase({ url: options.databaseUrl });
  try {
    const directory = new LocalDirectory(db, { phoneRegion: 'RU', pollIntervalMs: 0 });
    await directory.addMailbox(options.dovecot.mailbox(options.user));
    return await subscribeReaders(
      options.telegram,
      directory,
      options.dovecot.address(options.user),
      options.readers,
      { firstChatId: options.firstChatId },
    );
  } finally {
    await db.close();
  }
}

/**
 * Counts, per chat and report, the captioned messages the chat received (a report with an album and a
 * document: the album's head and the document carry the caption, so 2 per report).
 */
export function tallyReports(
  telegram: FakeTelegram,
  chats: readonly number[],
  subjects: readonly string[],
  perReport: number,
): { lost: number; duplicates: number; pending: number } {
  let lost = 0;
  let duplicates = 0;
  let pending = 0;
  for (const chatId of chats) {
    const counts = new Map<string, number>();
    for (const message of telegram.messagesIn(chatId)) {
      const subject = subjects.find((entry) => message.caption?.startsWith(entry));
      if (subject) counts.set(subject, (counts.get(subject) ?? 0) + 1);
    }
    for (const subject of subjects) {
      const count = counts.get(subject) ?? 0;
      if (count < perReport) {
        lost += 1;
        pending += perReport - count;
      }
      duplicates += Math.max(0, count - perReport);
    }
  }
  return { lost, duplicates, pending };
}

/**
 * For each report part a chat received more than once: the successful send calls that carried it
 * (who sent, when), to tell in a failure which instance repeated what.
 */
export function duplicateSends(
  telegram: FakeTelegram,
  subjects: readonly string[],
): Array<{ chatId: number | string | undefined; method: string; sends: string[] }> {
  const byPart = new Map<string, CallLogEntry[]>();
  for (const entry of telegram.calls) {
    if (!isSend(entry) || entry.status !== 200) continue;
    const caption = String(
      entry.params.caption ??
        (Array.isArray(entry.params.media) ? (entry.params.media[0] as { caption?: string })?.caption : '') ??
        '',
    );
    const subject = subjects.find((candidate) => caption.startsWith(candidate));
    if (!subject) continue;
    const key = `${entry.chatId} ${entry.method} ${subject}`;
    byPart.set(key, [...(byPart.get(key) ?? []), entry]);
  }
  return [...byPart.values()]
    .filter((entries) => entries.length > 1)
    .map((entries) => ({
      chatId: entries[0]!.chatId,
      method: entries[0]!.method,
      sends: entries.map(
        (entry) => `${entry.source ?? '?'}@${new Date(entry.at).toISOString().slice(11, 23)}`,
      ),
    }));
}

/** Median of a non-empty list. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
