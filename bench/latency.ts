/**
 * Latency: from the APPEND of a report mail to the bot's first Bot API send call for it, next to a bare
 * imapflow client idling on the same mailbox of the same Dovecot: APPEND → its EXISTS. One APPEND
 * drives both, so the difference is what the bot adds (fetch, download, parse, commit, dispatch) on top
 * of the server's own notification delay (Dovecot batches change notifications for ~0.5 s).
 */
import type { ImapFlow } from 'imapflow';
import { DovecotServer } from '../test/dovecot/dovecot.js';
import { FakeTelegram } from '../test/fakes/telegram/fake-telegram.js';
import { reportMail } from '../test/support/simple-mail.js';
import { prepareDataDir, SEND_METHODS, sleep, startBotProcess } from './bot-setup.js';
import { preparePostgresState } from './postgres-setup.js';
import { Resources } from './resources.js';
import { informational, judged, type ResultRow } from './results-table.js';

/** The bot may add at most this much to the bare client's median. */
const TARGET_EXTRA_MS = 100;

export interface LatencyOptions {
  /** Measured mails (default 50). */
  mails?: number;
  /** Mails sent first and not counted, so both processes are warm (default 3). */
  warmUp?: number;
  /** Where the bot keeps its state: SQLite in DATA_DIR (default), or a throwaway PostgreSQL cluster. */
  engine?: 'sqlite' | 'postgres';
}

/** The value at quantile `q` (0–1) by the nearest-rank method. */
function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** A plain imapflow client idling on INBOX, reporting when each EXISTS arrives. */
async function bareIdlingClient(dovecot: DovecotServer, user: string, resources: Resources) {
  const client: ImapFlow = resources.hold(dovecot.client(user), 'bare IMAP client', (imap) =>
    imap.logout().catch(() => imap.close()),
  );
  await client.connect();
  await client.mailboxOpen('INBOX');
  let waiter: ((at: number) => void) | null = null;
  client.on('exists', () => {
    const at = Date.now();
    waiter?.(at);
    waiter = null;
  });
  void client.idle().catch(() => undefined);
  return {
    /** Resolves with the arrival time of the next EXISTS. */
    nextExists(): Promise<number> {
      return new Promise((resolve) => {
        waiter = resolve;
      });
    },
  };
}

export async function latencyBenchmark(options: LatencyOptions = {}): Promise<ResultRow[]> {
  const mails = options.mails ?? 50;
  const warmUp = options.warmUp ?? 3;
  const name = options.engine === 'postgres' ? 'latency-postgres' : 'latency';
  const resources = new Resources();
  try {
    const dovecot = resources.hold(await DovecotServer.start({ users: 1 }), 'Dovecot', (server) =>
      server.stop(),
    );
    const telegram = resources.hold(await FakeTelegram.start(), 'fake Bot API', (fake) => fake.stop());
    const setupOptions = { dovecot, telegram, mailboxUsers: ['user1'], readers: 1 };
    const setup =
      options.engine === 'postgres'
        ? await preparePostgresState(setupOptions, resources)
        : await prepareDataDir(setupOptions, resources);
    const bot = await startBotProcess(setup.env, resources);
    await bot.waitForLine('connected to the mailbox', 30_000);

    const bare = await bareIdlingClient(dovecot, 'user1', resources);
    // appends go over a connection opened once, so connecting is not part of any figure
    const appender: ImapFlow = resources.hold(dovecot.client('user1'), 'appending IMAP client', (imap) =>
      imap.logout().catch(() => imap.close()),
    );
    await appender.connect();
    // both idling clients settle into IDLE
    await sleep(1000);

    const botMs: number[] = [];
    const bareMs: number[] = [];
    let lastSeq = telegram.calls.reduce((max, entry) => Math.max(max, entry.seq), 0);
    for (let index = 0; index < warmUp + mails; index++) {
      const exists = bare.nextExists();
      const appendedAt = Date.now();
      await appender.append('INBOX', reportMail().raw);
      const after = lastSeq;
      const firstSend = await telegram.waitForCall(
        (entry) => entry.seq > after && SEND_METHODS.has(entry.method),
        15_000,
      );
      const existsAt = await exists;
      const done = await telegram.waitForCall(
        (entry) => entry.seq > after && SEND_METHODS.has(entry.method) && entry.status === 200,
        15_000,
      );
      lastSeq = Math.max(firstSend.seq, done.seq);
      if (index >= warmUp) {
        botMs.push(firstSend.at - appendedAt);
        bareMs.push(existsAt - appendedAt);
      }
      // the per-chat interval (1 s) is over and the bot is back in IDLE before the next mail
      await sleep(1200);
    }
    if (bot.child.exitCode !== null) throw new Error(`the bot exited (code ${bot.child.exitCode})`);

    const botMedian = quantile(botMs, 0.5);
    const bareMedian = quantile(bareMs, 0.5);
    const extra = botMedian - bareMedian;
    const extras = botMs.map((value, index) => value - bareMs[index]!);
    return [
      informational(
        name,
        `bare imapflow: APPEND → EXISTS, median / p99 (${mails} mails)`,
        `${bareMedian} / ${quantile(bareMs, 0.99)} ms`,
      ),
      informational(
        name,
        `bot: APPEND → first send call, median / p99 (${mails} mails)`,
        `${botMedian} / ${quantile(botMs, 0.99)} ms`,
      ),
      judged(
        name,
        'bot median − bare median',
        `+${extra} ms`,
        `≤ +${TARGET_EXTRA_MS} ms`,
        extra <= TARGET_EXTRA_MS,
      ),
      informational(
        name,
        'bot − bare per mail, median / p99',
        `+${quantile(extras, 0.5)} / +${quantile(extras, 0.99)} ms`,
      ),
    ];
  } finally {
    await resources.release();
  }
}
