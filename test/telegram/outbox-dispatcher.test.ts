/**
 * The dispatcher over a real SQLite outbox and the fake Bot API: the work of choosing each message
 * does not grow with the number of deliveries queued (counted in scheduler steps, not timed); a state
 * database that cannot be reached pauses sending without spending attempts, and a fenced one stops it.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Api } from 'grammy';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_PLAN_LIMITS } from '../../src/core/message-plan.js';
import type { Directory, DirectorySnapshot } from '../../src/directory/directory.js';
import { leaderOnlyApi } from '../../src/leadership/leader-only-api.js';
import { LoggedAlerts } from '../../src/observability/admin-alerts.js';
import { createLogger } from '../../src/observability/logger.js';
import { SecretScrubber } from '../../src/observability/secret-scrubber.js';
import { DATABASE_FILE, type Database, openDatabase } from '../../src/store/database.js';
import { OutboxStore } from '../../src/store/outbox-store.js';
import { ReportStore } from '../../src/store/report-store.js';
import { spoolRoot } from '../../src/store/spool.js';
import { FencedError, StateUnavailableError } from '../../src/store/sql-database.js';
import { SqliteDatabase } from '../../src/store/sqlite-database.js';
import { OutboxDispatcher } from '../../src/telegram/outbox-dispatcher.js';
import { FakeTelegram } from '../fakes/telegram/fake-telegram.js';
import { CapturedLogs, eventually, removeDir, tempDataDir } from '../support/bot-harness.js';
import { minimalPdf } from '../support/simple-mail.js';

const FIRST_CHAT = 6_100_000;
/** Messages measured with the long queue. */
const MEASURED = 150;
/** Chats that exist on the fake: the first ones of every queue (more than are measured: the dispatcher goes on until stopped). */
const RECEIVING = 2 * MEASURED;

let telegram: FakeTelegram;
const dirs: string[] = [];
const dbs: Database[] = [];

beforeAll(async () => {
  telegram = await FakeTelegram.start({ rateLimits: { globalMessages: 1000 } });
  for (let index = 0; index < RECEIVING; index++) {
    telegram.addPrivateChat({ id: FIRST_CHAT + index, first_name: `Reader ${index}` });
  }
});

afterAll(async () => {
  await telegram?.stop();
});

afterEach(() => {
  for (const db of dbs.splice(0)) db.close();
  for (const dir of dirs.splice(0)) removeDir(dir);
});

/** Messages each chat received since `before` (their counts then, in the same order). */
function messagesSince(chats: number[], before: number[]): number[] {
  return chats.map((chat, index) => telegram.messagesIn(chat).length - before[index]!);
}

/** A report (one PDF) recorded with deliveries to `queued` chats. */
async function queueReport(queued: number) {
  const dataDir = tempDataDir();
  dirs.push(dataDir);
  const db = openDatabase(dataDir);
  dbs.push(db);
  const reports = new ReportStore(new SqliteDatabase(db));
  const spoolDir = path.join(spoolRoot(dataDir), 'mail-1');
  mkdirSync(spoolDir, { recursive: true });
  const pdf = minimalPdf(`queue of ${queued}`);
  const file = path.join(spoolDir, 'a.part');
  writeFileSync(file, pdf);
  await reports.record(
    {
      position: { mailbox: 'reports@example.com', uidValidity: '1', uid: 1, internalDate: null },
      mail: {
        subject: `Daily, ${queued} queued`,
        from: 'superset@bi.example.com',
        date: null,
        messageId: null,
        link: null,
        description: '',
        files: [
          {
            filename: 'daily.pdf',
            contentType: 'application/pdf',
            size: pdf.length,
            sha256: `pdf-${queued}`,
            path: file,
          },
        ],
        skipped: [],
        rawSize: 100,
        rawSha256: `raw-${queued}`,
      },
      status: 'forward',
      reason: null,
      spoolDir,
    },
    Array.from({ length: queued }, (_, index) => ({
      chatId: FIRST_CHAT + index,
      recipientKind: 'user' as const,
      recipientKey: String(index),
      recipientName: `Reader ${index}`,
      language: 'en',
      mediaMode: 'document',
      threadId: null,
    })),
  );
  return { reports, outbox: new OutboxStore(new SqliteDatabase(db)), dataDir };
}

/** A directory in which the `queued` readers of the report's mailbox are all still subscribed. */
function subscribersDirectory(queued: number): Directory {
  const snapshot: DirectorySnapshot = {
    mailboxes: [],
    users: Array.from({ length: queued }, (_, index) => ({
      key: String(index),
      name: `Reader ${index}`,
      phone: `+1555${String(index).padStart(7, '0')}`,
      telegramId: FIRST_CHAT + index,
      mailboxes: ['reports@example.com'],
      active: true,
    })),
    groups: [],
    loadedAt: new Date().toISOString(),
  };
  return { snapshot: () => snapshot, onChange: () => () => undefined } as unknown as Directory;
}

/** Scheduler steps per message sent, after the initial load, over the first `messages` messages. */
async function operationsPerMessage(queued: number, messages: number): Promise<number> {
  const { reports, outbox } = await queueReport(queued);
  const scrubber = new SecretScrubber();
  const logger = createLogger({ level: 'silent', scrubber, destination: new CapturedLogs() });
  const dispatcher = new OutboxDispatcher({
    api: new Api(telegram.token, { apiRoot: telegram.apiRoot }),
    outbox,
    reports,
    // every queued chat is still a subscriber: the check before each send lets them all through
    directory: subscribersDirectory(queued),
    logger,
    scrubber,
    alerts: new LoggedAlerts(logger),
    limits: { messagesPerSecond: 1000, chatIntervalMs: 1000, groupMessagesPerMinute: 20 },
    planLimits: DEFAULT_PLAN_LIMITS,
    maxAttempts: 5,
  });
  dispatcher.start();
  await dispatcher.loaded();
  const afterLoad = dispatcher.schedulingOperations;
  try {
    await eventually(
      async () => (await outbox.countByState()).sent >= messages,
      30_000,
      `${messages} messages sent`,
    );
  } finally {
    await dispatcher.stop();
  }
  const { sent, failed, cancelled } = await outbox.countByState();
  expect(failed + cancelled).toBe(0);
  return (dispatcher.schedulingOperations - afterLoad) / sent;
}

describe('outbox dispatcher', () => {
  it('does the same scheduling work per message with 10 or 100,000 deliveries queued', async () => {
    const small = await operationsPerMessage(10, 10);
    const large = await operationsPerMessage(100_000, MEASURED);
    console.log(
      `dispatcher scheduling steps per message: ${small.toFixed(1)} (10 queued), ${large.toFixed(1)} (100,000 queued)`,
    );
    expect(large).toBeLessThanOrEqual(small * 1.5);
  }, 120_000);

  it('after a restart, polls only the rows added since, not the finished history above the oldest pending one', async () => {
    const { reports, outbox } = await queueReport(60);
    // a restart with one delivery pending and 59 finished ones above it
    const [first, ...finished] = await outbox.pending();
    for (const delivery of finished) await outbox.markSent(delivery.id);
    const polledAfter: number[] = [];
    const pendingAfter = outbox.pendingAfter.bind(outbox);
    outbox.pendingAfter = (afterId: number) => {
      polledAfter.push(afterId);
      return pendingAfter(afterId);
    };
    const scrubber = new SecretScrubber();
    const logger = createLogger({ level: 'silent', scrubber, destination: new CapturedLogs() });
    const dispatcher = new OutboxDispatcher({
      api: new Api(telegram.token, { apiRoot: telegram.apiRoot }),
      outbox,
      reports,
      directory: subscribersDirectory(60),
      logger,
      scrubber,
      alerts: new LoggedAlerts(logger),
      limits: { messagesPerSecond: 1000, chatIntervalMs: 1000, groupMessagesPerMinute: 20 },
      planLimits: DEFAULT_PLAN_LIMITS,
      maxAttempts: 5,
    });
    dispatcher.start();
    try {
      await eventually(
        async () => (await outbox.delivery(first!.id))?.state === 'sent',
        30_000,
        'the pending one sent',
      );
      dispatcher.wake();
    } finally {
      await dispatcher.stop();
    }
    expect(polledAfter[0]).toBe(0);
    const poll = polledAfter.at(-1)!;
    // rows a poll reads: those above the id it starts from (by the primary key)
    const rowsPerPoll = (await outbox.forReport(first!.reportId)).filter(
      (delivery) => delivery.id > poll,
    ).length;
    expect(rowsPerPoll).toBe(0);
  }, 60_000);

  it('sends each message once when the database refuses to record it (another connection holds the write lock)', async () => {
    const queued = 3;
    const { reports, outbox, dataDir } = await queueReport(queued);
    const chats = Array.from({ length: queued }, (_, index) => FIRST_CHAT + index);
    const before = chats.map((chat) => telegram.messagesIn(chat).length);
    // a CLI command writing: it holds the write lock past the bot's 5 s busy timeout
    const other = new BetterSqlite3(path.join(dataDir, DATABASE_FILE));
    other.exec('BEGIN EXCLUSIVE');
    const scrubber = new SecretScrubber();
    const logs = new CapturedLogs();
    const logger = createLogger({ level: 'debug', scrubber, destination: logs });
    const dispatcher = new OutboxDispatcher({
      api: new Api(telegram.token, { apiRoot: telegram.apiRoot }),
      outbox,
      reports,
      directory: subscribersDirectory(queued),
      logger,
      scrubber,
      alerts: new LoggedAlerts(logger),
      limits: { messagesPerSecond: 1000, chatIntervalMs: 1000, groupMessagesPerMinute: 20 },
      planLimits: DEFAULT_PLAN_LIMITS,
      maxAttempts: 3,
      commitRetryMinMs: 50,
    });
    dispatcher.start();
    try {
      await eventually(
        () => chats.some((chat, index) => telegram.messagesIn(chat).length > before[index]!),
        30_000,
        'a first message sent',
      );
      // two busy timeouts of the bot (5 s each) while the lock is held
      await new Promise((resolve) => setTimeout(resolve, 11_000));
      other.exec('COMMIT');
      await eventually(
        async () => (await outbox.countByState()).sent === queued,
        60_000,
        'every delivery recorded sent',
      );
      await dispatcher.stop();
    } finally {
      if (other.inTransaction) other.exec('ROLLBACK');
      other.close();
      await dispatcher.stop();
    }
    expect(messagesSince(chats, before)).toEqual([1, 1, 1]);
    expect(await outbox.countByState()).toMatchObject({ sent: queued, failed: 0, pending: 0 });
    // the lock did refuse the record (the scenario happened)
    expect(logs.matching('could not record a message sent').length).toBeGreaterThanOrEqual(1);
  }, 120_000);

  /**
   * The outbox's calls fail as on an unreachable PostgreSQL from the moment the first message sent is
   * to be recorded (so that one waits in memory), until `recoverAfterMs` later.
   */
  function failingFromFirstRecord(outbox: OutboxStore, error: () => Error, recoverAfterMs: number) {
    const state = { down: false, failures: 0, downSince: 0 };
    const methods = [
      'stepsSent',
      'delivery',
      'markSent',
      'reschedule',
      'fail',
      'cancel',
      'fileId',
      'pendingAfter',
      'maxId',
      'migratedFrom',
    ] as const;
    for (const name of methods) {
      const original = (outbox[name] as (...args: unknown[]) => Promise<unknown>).bind(outbox);
      (outbox as unknown as Record<string, unknown>)[name] = async (...args: unknown[]) => {
        if (name === 'stepsSent' && state.downSince === 0) {
          state.down = true;
          state.downSince = Date.now();
          setTimeout(() => {
            state.down = false;
          }, recoverAfterMs);
        }
        if (state.down) {
          state.failures++;
          throw error();
        }
        return original(...args);
      };
    }
    return state;
  }

  function dispatcherFor(
    fixture: Awaited<ReturnType<typeof queueReport>>,
    queued: number,
    extra: Partial<ConstructorParameters<typeof OutboxDispatcher>[0]> = {},
  ) {
    const scrubber = new SecretScrubber();
    const logs = new CapturedLogs();
    const logger = createLogger({ level: 'debug', scrubber, destination: logs });
    const dispatcher = new OutboxDispatcher({
      api: new Api(telegram.token, { apiRoot: telegram.apiRoot }),
      outbox: fixture.outbox,
      reports: fixture.reports,
      directory: subscribersDirectory(queued),
      logger,
      scrubber,
      alerts: new LoggedAlerts(logger),
      limits: { messagesPerSecond: 1000, chatIntervalMs: 1000, groupMessagesPerMinute: 20 },
      planLimits: DEFAULT_PLAN_LIMITS,
      // one attempt: any attempt spent on the database's account would fail a delivery at once
      maxAttempts: 1,
      commitRetryMinMs: 50,
      ...extra,
    });
    return { dispatcher, logs };
  }

  for (const parallelSends of [1, 3]) {
    it(`pauses while the state database is unreachable, spends no attempt, and sends each message once (${parallelSends} at once)`, async () => {
      const queued = 4;
      const fixture = await queueReport(queued);
      const chats = Array.from({ length: queued }, (_, index) => FIRST_CHAT + index);
      const before = chats.map((chat) => telegram.messagesIn(chat).length);
      const outage = failingFromFirstRecord(
        fixture.outbox,
        () => new StateUnavailableError('the state database is unreachable (connection refused)'),
        3000,
      );
      const { dispatcher, logs } = dispatcherFor(fixture, queued, { parallelSends });
      dispatcher.start();
      try {
        await eventually(() => outage.down, 30_000, 'the outage begun');
        // while it lasts, nothing more goes out than the requests already on the wire
        const sentAtOutage = messagesSince(chats, before);
        await new Promise((resolve) => setTimeout(resolve, 2000));
        expect(messagesSince(chats, before)).toEqual(sentAtOutage);
        await eventually(
          async () => !outage.down && (await fixture.outbox.countByState()).sent === queued,
          60_000,
          'every delivery recorded sent after the outage',
        );
      } finally {
        await dispatcher.stop();
      }
      expect(outage.failures).toBeGreaterThan(0);
      expect(messagesSince(chats, before)).toEqual(chats.map(() => 1));
      const deliveries = await fixture.outbox.pending();
      expect(deliveries).toEqual([]);
      expect(await fixture.outbox.countByState()).toMatchObject({ sent: queued, failed: 0, pending: 0 });
      expect(logs.matching('could not record a message sent').length).toBeGreaterThanOrEqual(1);
      expect(dispatcher.isFenced).toBe(false);
    }, 120_000);
  }

  it("stops on the Bot API guard when the lease ran out during an await, reporting the term's generation", async () => {
    const queued = 4;
    const fixture = await queueReport(queued);
    const chats = Array.from({ length: queued }, (_, index) => FIRST_CHAT + index);
    const before = chats.map((chat) => telegram.messagesIn(chat).length);
    let leads = true;
    let requests = 0;
    const fenced: FencedError[] = [];
    const api = leaderOnlyApi(new Api(telegram.token, { apiRoot: telegram.apiRoot }), () => leads, 5);
    // counted after the guard: the requests that would have left this process
    api.config.use((previous, method, payload, signal) => {
      requests += 1;
      return previous(method, payload, signal);
    });
    // the dispatcher's own check before a send still says "leader": the lease runs out between the two
    const { dispatcher } = dispatcherFor(fixture, queued, {
      api,
      parallelSends: 1,
      mayAct: () => true,
      onFenced: (error) => fenced.push(error),
    });
    dispatcher.start();
    try {
      await eventually(
        () => chats.some((chat, index) => telegram.messagesIn(chat).length > before[index]!),
        30_000,
        'a first message sent',
      );
      leads = false;
      await eventually(() => fenced.length > 0, 30_000, 'the guard noticed');
      const requestsAtFence = requests;
      const sentAtFence = messagesSince(chats, before);
      await new Promise((resolve) => setTimeout(resolve, 2000));
      expect(requests).toBe(requestsAtFence);
      expect(messagesSince(chats, before)).toEqual(sentAtFence);
    } finally {
      await dispatcher.stop();
    }
    expect(fenced).toHaveLength(1);
    // the term's generation, so the leadership steps down (and a new term starts a new dispatcher)
    expect(fenced[0]!.generation).toBe(5);
    expect(dispatcher.isFenced).toBe(true);
    // the refused send spent no attempt and failed nothing: the next leader sends the rest
    const counts = await fixture.outbox.countByState();
    expect(counts).toMatchObject({ failed: 0, cancelled: 0 });
    expect(counts.pending).toBeGreaterThanOrEqual(1);
  }, 60_000);

  it('stops sending at once when a write is fenced (another instance leads), and says so once', async () => {
    const queued = 4;
    const fixture = await queueReport(queued);
    const chats = Array.from({ length: queued }, (_, index) => FIRST_CHAT + index);
    const before = chats.map((chat) => telegram.messagesIn(chat).length);
    const fence = failingFromFirstRecord(fixture.outbox, () => new FencedError(7), 600_000);
    const fenced: FencedError[] = [];
    const { dispatcher } = dispatcherFor(fixture, queued, {
      parallelSends: 1,
      onFenced: (error) => fenced.push(error),
    });
    dispatcher.start();
    try {
      await eventually(() => fenced.length > 0, 30_000, 'the fence noticed');
      const sentAtFence = messagesSince(chats, before);
      // one message went out (the one whose record was refused); nothing after it
      expect(sentAtFence.reduce((sum, count) => sum + count, 0)).toBe(1);
      await new Promise((resolve) => setTimeout(resolve, 2500));
      expect(messagesSince(chats, before)).toEqual(sentAtFence);
    } finally {
      await dispatcher.stop();
    }
    expect(fenced).toHaveLength(1);
    expect(fenced[0]!.generation).toBe(7);
    expect(dispatcher.isFenced).toBe(true);
    expect(fence.down).toBe(true);
    // nothing was failed or cancelled here: the new leader resumes every delivery
    fence.down = false;
    expect(await fixture.outbox.countByState()).toMatchObject({
      failed: 0,
      cancelled: 0,
      sent: 0,
      pending: queued,
    });
  }, 60_000);
});
