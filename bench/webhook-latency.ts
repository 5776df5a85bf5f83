/**
 * Webhook latency: from the start of Superset's POST (the same multipart shape, a PDF report) to the
 * bot's first Bot API send call for it, beside APPEND → first send call on an IMAP mailbox of the same
 * bot process (the path `latency` measures), so the two ways into a mailbox are compared on one run.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import type { ImapFlow } from 'imapflow';
import { LocalDirectory } from '../src/directory/local/local-directory.js';
import { openDatabase } from '../src/store/database.js';
import { SqliteDatabase } from '../src/store/sqlite-database.js';
import { webhookPath } from '../src/webhook/webhook-token.js';
import { DovecotServer } from '../test/dovecot/dovecot.js';
import { FakeTelegram } from '../test/fakes/telegram/fake-telegram.js';
import { makePdf } from '../test/fixtures/sample-files.js';
import { freePort } from '../test/support/bot-harness.js';
import { reportMail } from '../test/support/simple-mail.js';
import { multipartRequest, post, reportPayload } from '../test/support/superset-webhook.js';
import { prepareDataDir, SEND_METHODS, sleep, startBotProcess } from './bot-setup.js';
import { Resources } from './resources.js';
import { informational, judged, type ResultRow } from './results-table.js';

const NAME = 'webhook-latency';
/** The target for POST → first send call, median. */
const TARGET_MS = 50;
const HOOK_MAILBOX = 'superset-hook@bench.example.com';

/** The value at quantile `q` (0–1) by the nearest-rank method. */
function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export async function webhookLatencyBenchmark(
  options: { reports?: number; warmUp?: number } = {},
): Promise<ResultRow[]> {
  const reports = options.reports ?? 50;
  const warmUp = options.warmUp ?? 3;
  const resources = new Resources();
  try {
    const dovecot = resources.hold(await DovecotServer.start({ users: 1 }), 'Dovecot', (server) =>
      server.stop(),
    );
    const telegram = resources.hold(await FakeTelegram.start(), 'fake Bot API', (fake) => fake.stop());
    const setup = await prepareDataDir({ dovecot, telegram, mailboxUsers: ['user1'], readers: 1 }, resources);
    // the same reader also subscribes to a webhook-only mailbox
    mkdirSync(setup.dataDir, { recursive: true });
    const db = openDatabase(setup.dataDir);
    try {
      const directory = new LocalDirectory(new SqliteDatabase(db), { phoneRegion: 'RU', pollIntervalMs: 0 });
      await directory.addMailbox({ email: HOOK_MAILBOX, webhookOnly: true });
      const reader = directory.snapshot().users[0]!;
      await directory.editUser(reader.phone, { mailboxes: [...reader.mailboxes, HOOK_MAILBOX] });
    } finally {
      db.close();
    }
    const secret = randomBytes(32).toString('base64url');
    const port = await freePort();
    const bot = await startBotProcess(
      { ...setup.env, WEBHOOK_PORT: String(port), WEBHOOK_HOST: '127.0.0.1', WEBHOOK_SECRET: secret },
      resources,
    );
    await bot.waitForLine('connected to the mailbox', 30_000);
    const url = `http://127.0.0.1:${port}${webhookPath(secret, HOOK_MAILBOX)}`;
    const appender: ImapFlow = resources.hold(dovecot.client('user1'), 'appending IMAP client', (imap) =>
      imap.logout().catch(() => imap.close()),
    );
    await appender.connect();
    await sleep(1000);

    const pdf = makePdf({ pages: ['Webhook latency'] });
    let lastSeq = telegram.calls.reduce((max, entry) => Math.max(max, entry.seq), 0);
    /** Runs `deliver`, resolves with ms from its start to the first send call after it. */
    const measure = async (deliver: () => Promise<unknown>): Promise<number> => {
      const after = lastSeq;
      const startedAt = Date.now();
      const delivered = deliver();
      const firstSend = await telegram.waitForCall(
        (entry) => entry.seq > after && SEND_METHODS.has(entry.method),
        15_000,
      );
      await delivered;
      const done = await telegram.waitForCall(
        (entry) => entry.seq > after && SEND_METHODS.has(entry.method) && entry.status === 200,
        15_000,
      );
      lastSeq = Math.max(firstSend.seq, done.seq);
      // the per-chat interval (1 s) is over before the next report
      await sleep(1200);
      return firstSend.at - startedAt;
    };
    const webhookMs: number[] = [];
    const imapMs: number[] = [];
    for (let index = 0; index < warmUp + reports; index++) {
      const request = multipartRequest(reportPayload({ name: `Webhook latency #${index}` }), [
        { filename: 'report.pdf', content: pdf, type: 'application/pdf' },
      ]);
      const hook = await measure(async () => {
        const answer = await post(url, request);
        if (answer.status !== 200) throw new Error(`webhook answered ${answer.status}: ${answer.body}`);
      });
      const imap = await measure(() => appender.append('INBOX', reportMail().raw));
      if (index >= warmUp) {
        webhookMs.push(hook);
        imapMs.push(imap);
      }
    }
    if (bot.child.exitCode !== null) throw new Error(`the bot exited (code ${bot.child.exitCode})`);
    const median = quantile(webhookMs, 0.5);
    return [
      judged(
        NAME,
        `webhook: POST → first send call, median / p99 (${reports} reports)`,
        `${median} / ${quantile(webhookMs, 0.99)} ms`,
        `median ≤ ${TARGET_MS} ms`,
        median <= TARGET_MS,
      ),
      informational(
        NAME,
        `IMAP, same bot: APPEND → first send call, median / p99 (${reports} mails)`,
        `${quantile(imapMs, 0.5)} / ${quantile(imapMs, 0.99)} ms`,
      ),
    ];
  } finally {
    await resources.release();
  }
}
