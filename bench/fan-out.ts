/**
 * Fan-out: one Superset report (a PDF and three PNG screenshots) to 1000 private chats, with the fake
 * Bot API enforcing Telegram's flood limits (30 messages/s overall, an album counting as its items).
 *
 * Wall time runs from the arrival of the first send call at the fake to the moment the last successful
 * one was answered; the least possible is messages ÷ 30 s. Upload efficiency is the bytes the fake
 * received in file parts against the report's file bytes (1.0 = every file uploaded exactly once).
 */
import { DovecotServer } from '../test/dovecot/dovecot.js';
import { type CallLogEntry, FakeTelegram } from '../test/fakes/telegram/fake-telegram.js';
import { makePdfOfSize, makePng } from '../test/fixtures/sample-files.js';
import { buildSupersetMail, supersetReportHtml } from '../test/fixtures/superset-mail.js';
import { prepareDataDir, SEND_METHODS, sleep, startBotProcess } from './bot-setup.js';
import { preparePostgresState } from './postgres-setup.js';
import { MIB, mib, RssSampler, sampleProcess } from './process-stats.js';
import { Resources } from './resources.js';
import { informational, judged, type ResultRow } from './results-table.js';
import { simulatedMedianRatio } from './schedule-simulation.js';

/** Telegram's overall limit, messages per second (the fake's default). */
const MESSAGES_PER_SECOND = 30;
/** The raised overall limit of the scale runs (fake and bot alike). */
const SCALE_MESSAGES_PER_SECOND = 1000;
/** TELEGRAM_PARALLEL_SENDS of the paid-broadcast run (docs/operations.md recommends it with paid broadcasts). */
const PAID_PARALLEL_SENDS = 16;

export interface FanOutOptions {
  /** Recipients (default 1000). */
  chats?: number;
  /** The overall limit, messages/s, of the fake and of the bot (default 30, Telegram's). */
  messagesPerSecond?: number;
  /** Settings for the bot on top of the defaults, to compare (e.g. TELEGRAM_PARALLEL_SENDS). */
  botEnv?: Record<string, string>;
  /**
   * Paid broadcasts: the bot runs with TELEGRAM_PAID_BROADCAST=true, and the fake keeps Telegram's free
   * 30/s for unpaid sends while admitting `messagesPerSecond` with `allow_paid_broadcast`.
   */
  paid?: boolean;
  /** Where the bot keeps its state: SQLite in DATA_DIR (default), or a throwaway PostgreSQL cluster. */
  engine?: 'sqlite' | 'postgres';
}

/** What one fan-out measured. */
export interface FanOutMeasurement {
  chats: number;
  messagesPerSecond: number;
  expectedMessages: number;
  /** Messages the fake accepted (an album counts as its items). */
  messages: number;
  wallSeconds: number;
  minimumSeconds: number;
  fileBytes: number;
  uploadedBytes: number;
  tooManyRequests: number;
  sendCalls: number;
  /** Chats that received exactly the report. */
  complete: number;
  /** The bot's CPU time (user + system) from the APPEND to the last message answered, seconds. */
  cpuSeconds: number;
  /** The bot's highest RSS during the fan-out (sampled, and VmHWM), bytes. */
  peakRssBytes: number;
  /** The bot's RSS before the mail arrived, bytes. */
  idleRssBytes: number;
  /** Per chat: seconds from the first send call to the answer of the chat's last message (its whole report). */
  completeSeconds: number[];
  /** Send calls accepted with `allow_paid_broadcast`. */
  paidCalls: number;
  /** Stars the fake billed (0.1 per paid message beyond the free 30/s). */
  starsSpent: number;
}

/** A Superset dashboard report: a ~1 MB PDF export and three ~1.2 MB screenshots. */
function supersetReport(): { raw: Buffer; fileBytes: number; photos: number; documents: number } {
  const unique = `${Date.now()}`;
  const pdf = makePdfOfSize(1_000_000, `Sales dashboard ${unique}`);
  // stored (level 0) deflate: screenshots of a realistic size; photo-eligible (800×500, ratio 1.6)
  const pngs = [0, 1, 2].map((index) =>
    makePng(800, 500, { rgb: [40 + index * 60, 120, 200 - index * 50], compressionLevel: 0 }),
  );
  const contentIds = pngs.map((_, index) => `bench-${unique}-${index}@superset.example.com`);
  const subject = `[Report]  Sales dashboard ${unique}`;
  const raw = buildSupersetMail({
    seed: `fan-out-${unique}`,
    subject,
    html: supersetReportHtml({ url: 'https://superset.example.com/superset/dashboard/12/', contentIds }),
    pdf: { name: `Sales dashboard ${unique}.pdf`, data: pdf },
    images: pngs.map((png, index) => ({
      png,
      contentId: contentIds[index]!,
      name: `${subject} Tue, 07 Oct 2025 09:00:05 +0300`,
    })),
  });
  const fileBytes = pdf.length + pngs.reduce((sum, png) => sum + png.length, 0);
  return { raw, fileBytes, photos: pngs.length, documents: 1 };
}

/** Messages a successful send call put into its chat (an album counts as its items). */
function messagesOf(entry: CallLogEntry): number {
  const media = entry.params.media;
  return entry.method === 'sendMediaGroup' && Array.isArray(media) ? media.length : 1;
}

/** Runs one fan-out: a fresh Dovecot, fake Bot API, DATA_DIR and bot process; all removed afterwards. */
export async function measureFanOut(options: FanOutOptions = {}): Promise<FanOutMeasurement> {
  const chatCount = options.chats ?? 1000;
  const messagesPerSecond = options.messagesPerSecond ?? MESSAGES_PER_SECOND;
  const resources = new Resources();
  try {
    const dovecot = resources.hold(await DovecotServer.start({ users: 1 }), 'Dovecot', (server) =>
      server.stop(),
    );
    const telegram = resources.hold(
      await FakeTelegram.start({
        rateLimits: options.paid
          ? { paidGlobalMessages: messagesPerSecond }
          : { globalMessages: messagesPerSecond },
      }),
      'fake Bot API',
      (fake) => fake.stop(),
    );
    const setupOptions = { dovecot, telegram, mailboxUsers: ['user1'], readers: chatCount };
    const setup =
      options.engine === 'postgres'
        ? await preparePostgresState(setupOptions, resources)
        : await prepareDataDir(setupOptions, resources);
    const bot = await startBotProcess(
      {
        ...setup.env,
        ...(options.paid
          ? { TELEGRAM_PAID_BROADCAST: 'true' }
          : { TELEGRAM_MESSAGES_PER_SECOND: String(messagesPerSecond) }),
        ...options.botEnv,
      },
      resources,
    );
    await bot.waitForLine('connected to the mailbox', 30_000);
    const pid = bot.child.pid!;

    const report = supersetReport();
    const perChat = report.photos + report.documents;
    const expectedMessages = chatCount * perChat;
    const minimumSeconds = expectedMessages / messagesPerSecond;
    console.log(
      `fan-out: ${chatCount} chats × ${perChat} messages at ${messagesPerSecond}/s, ${report.fileBytes} file bytes; ` +
        `least possible ${minimumSeconds.toFixed(1)} s`,
    );
    const idle = sampleProcess(pid);
    const rss = new RssSampler(pid, 100);
    await dovecot.append('user1', report.raw);

    // follow the fake's call log as it grows: first send call, last successful one, 429s
    let scanned = 0;
    let firstSendAt: number | null = null;
    let lastSuccessAt = 0;
    let messages = 0;
    let paidCalls = 0;
    /** When the benchmark saw each chat's latest accepted message answered. */
    const chatDoneAt = new Map<number, number>();
    let tooManyRequests = 0;
    const deadline = Date.now() + (3 * minimumSeconds + 120) * 1000;
    while (messages < expectedMessages) {
      const log = telegram.calls;
      const observedAt = Date.now();
      for (; scanned < log.length; scanned++) {
        const entry = log[scanned]!;
        if (!SEND_METHODS.has(entry.method)) continue;
        firstSendAt = Math.min(firstSendAt ?? entry.at, entry.at);
        if (entry.status === 429) tooManyRequests++;
        if (entry.status === 200) {
          messages += messagesOf(entry);
          lastSuccessAt = observedAt;
          chatDoneAt.set(Number(entry.chatId), observedAt);
          if (entry.params.allow_paid_broadcast === true) paidCalls++;
        }
      }
      if (bot.child.exitCode !== null) throw new Error(`the bot exited (code ${bot.child.exitCode})`);
      if (Date.now() > deadline) {
        throw new Error(`fan-out incomplete: ${messages}/${expectedMessages} messages by the deadline`);
      }
      await sleep(5);
    }
    const done = sampleProcess(pid);
    rss.stop();
    const wallSeconds = (lastSuccessAt - firstSendAt!) / 1000;
    const complete = setup.chats.filter((chat) => {
      const received = telegram.messagesIn(chat);
      return (
        received.length === perChat &&
        received.filter((message) => message.type === 'photo').length === report.photos &&
        received.filter((message) => message.type === 'document').length === report.documents
      );
    }).length;
    const sendCalls = telegram.calls.filter((entry) => SEND_METHODS.has(entry.method));
    return {
      chats: chatCount,
      messagesPerSecond,
      expectedMessages,
      messages,
      wallSeconds,
      minimumSeconds,
      fileBytes: report.fileBytes,
      uploadedBytes: telegram.totals().uploadedBytes,
      tooManyRequests,
      sendCalls: sendCalls.length,
      complete,
      cpuSeconds: done.cpuSeconds - idle.cpuSeconds,
      peakRssBytes: Math.max(rss.maxRssBytes, done.peakRssBytes),
      idleRssBytes: idle.rssBytes,
      completeSeconds: [...chatDoneAt.values()].map((at) => (at - firstSendAt!) / 1000),
      paidCalls,
      starsSpent: telegram.starsSpent,
    };
  } finally {
    await resources.release();
  }
}

/** The fan-out of the README: 1000 chats at Telegram's 30 messages/s. */
export async function fanOutBenchmark(options: FanOutOptions = {}): Promise<ResultRow[]> {
  const name = options.engine === 'postgres' ? 'fan-out-postgres' : 'fan-out';
  const run = await measureFanOut(options);
  const ratio = run.wallSeconds / run.minimumSeconds;
  const uploadRatio = run.uploadedBytes / run.fileBytes;
  return [
    informational(
      name,
      `wall time, ${run.expectedMessages} messages (${run.chats} chats × 3 photos + 1 PDF)`,
      `${run.wallSeconds.toFixed(1)} s (least ${run.minimumSeconds.toFixed(1)} s)`,
    ),
    judged(name, 'wall time ÷ least possible (messages ÷ 30/s)', ratio.toFixed(3), '≤ 1.05', ratio <= 1.05),
    judged(
      name,
      'bytes uploaded ÷ report file bytes',
      `${uploadRatio.toFixed(3)} (${run.uploadedBytes} / ${run.fileBytes})`,
      '≤ 1.1',
      uploadRatio <= 1.1,
    ),
    informational(name, '429 answers seen', `${run.tooManyRequests} (of ${run.sendCalls} send calls)`),
    ...whoWaitsHowLong(name, run),
    judged(
      name,
      'chats that received exactly the report',
      `${run.complete} / ${run.chats}`,
      `${run.chats} / ${run.chats}`,
      run.complete === run.chats,
    ),
  ];
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/**
 * Issue 13 part 6: the median chat's time to its whole report ÷ the fan-out's wall time, measured; and
 * beside it the figure of the old order (first ready first, i.e. round-robin over the chats), which the
 * bot no longer has: computed by the real SendSchedule and SendRateLimiter on a virtual clock for the
 * same report and chats, each request answered at once.
 */
function whoWaitsHowLong(name: string, run: FanOutMeasurement): ResultRow[] {
  const ratio = median(run.completeSeconds) / run.wallSeconds;
  const roundRobin = simulatedMedianRatio({
    chats: run.chats,
    steps: [3, 1],
    messagesPerSecond: run.messagesPerSecond,
    chatByChat: false,
  });
  return [
    judged(
      name,
      "median time to a chat's whole report ÷ fan-out wall time (chat by chat)",
      `${ratio.toFixed(3)} (median ${median(run.completeSeconds).toFixed(1)} s of ${run.wallSeconds.toFixed(1)} s)`,
      '≤ 0.55',
      ratio <= 0.55,
    ),
    informational(
      name,
      'the same for round-robin (the order before; simulated with the real scheduler)',
      roundRobin.toFixed(3),
    ),
  ];
}

/** Bot CPU time per message, in microseconds. */
function cpuPerMessageUs(run: FanOutMeasurement): number {
  return (run.cpuSeconds / run.messages) * 1e6;
}

/**
 * The same report to 1000 and to 10,000 chats with the overall limit raised to 1000 messages/s (fake
 * and bot): the bot's CPU per message must not grow with the number of chats (≤ 1.2×), and its RSS
 * stays ≤ 250 MiB.
 */
export async function fanOutScaleBenchmark(options: { chats?: number[] } = {}): Promise<ResultRow[]> {
  const name = 'fan-out-scale';
  const [small, large] = options.chats ?? [1000, 10_000];
  const runs: FanOutMeasurement[] = [];
  for (const chats of [small!, large!]) {
    runs.push(await measureFanOut({ chats, messagesPerSecond: SCALE_MESSAGES_PER_SECOND }));
  }
  const rows: ResultRow[] = [];
  for (const run of runs) {
    rows.push(
      informational(
        name,
        `${run.chats} chats at ${run.messagesPerSecond} msg/s: wall time, ${run.expectedMessages} messages`,
        `${run.wallSeconds.toFixed(1)} s (least ${run.minimumSeconds.toFixed(1)} s), ${run.tooManyRequests} × 429`,
      ),
      informational(
        name,
        `${run.chats} chats: bot CPU per message (CPU ${run.cpuSeconds.toFixed(2)} s ÷ ${run.messages} messages)`,
        `${cpuPerMessageUs(run).toFixed(0)} µs`,
      ),
      judged(
        name,
        `${run.chats} chats: bot peak RSS during the fan-out (idle ${mib(run.idleRssBytes)})`,
        mib(run.peakRssBytes),
        '≤ 250 MiB',
        run.peakRssBytes <= 250 * MIB,
      ),
      judged(
        name,
        `${run.chats} chats: chats that received exactly the report`,
        `${run.complete} / ${run.chats}`,
        `${run.chats} / ${run.chats}`,
        run.complete === run.chats,
      ),
    );
  }
  const ratio = cpuPerMessageUs(runs[1]!) / cpuPerMessageUs(runs[0]!);
  rows.push(
    judged(
      name,
      `CPU per message, ${runs[1]!.chats} chats ÷ ${runs[0]!.chats} chats`,
      ratio.toFixed(2),
      '≤ 1.2',
      ratio <= 1.2,
    ),
  );
  return rows;
}

/**
 * Issue 12 part 4: paid broadcasts. 1000 chats receive the report (4000 messages) with
 * TELEGRAM_PAID_BROADCAST=true from a fake that admits 1000 messages/s with `allow_paid_broadcast` and
 * Telegram's 30/s without it; the least possible is messages ÷ 1000 s.
 */
export async function paidBroadcastBenchmark(
  options: { chats?: number; botEnv?: Record<string, string> } = {},
): Promise<ResultRow[]> {
  const name = 'paid-broadcast';
  const run = await measureFanOut({
    chats: options.chats ?? 1000,
    messagesPerSecond: SCALE_MESSAGES_PER_SECOND,
    paid: true,
    // one request at a time cannot carry 1000 messages/s: the documented setting for paid broadcasts
    botEnv: { TELEGRAM_PARALLEL_SENDS: String(PAID_PARALLEL_SENDS), ...options.botEnv },
  });
  const ratio = run.wallSeconds / run.minimumSeconds;
  return [
    informational(
      name,
      `wall time, ${run.expectedMessages} messages (${run.chats} chats × 3 photos + 1 PDF) at ${run.messagesPerSecond} msg/s paid, TELEGRAM_PARALLEL_SENDS=${PAID_PARALLEL_SENDS}`,
      `${run.wallSeconds.toFixed(2)} s (least ${run.minimumSeconds.toFixed(1)} s), ${run.tooManyRequests} × 429`,
    ),
    judged(
      name,
      `wall time ÷ least possible (messages ÷ ${run.messagesPerSecond}/s)`,
      ratio.toFixed(3),
      '≤ 1.05',
      ratio <= 1.05,
    ),
    judged(
      name,
      'send calls accepted with allow_paid_broadcast',
      `${run.paidCalls} / ${run.sendCalls - run.tooManyRequests}`,
      'all',
      run.paidCalls === run.sendCalls - run.tooManyRequests,
    ),
    informational(name, 'Stars billed by the fake (0.1 per message beyond 30/s)', run.starsSpent.toFixed(1)),
    judged(
      name,
      'chats that received exactly the report',
      `${run.complete} / ${run.chats}`,
      `${run.chats} / ${run.chats}`,
      run.complete === run.chats,
    ),
  ];
}
