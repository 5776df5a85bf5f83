/**
 * A 50 MiB PDF report (MAX_FILE_MB=50, the largest file the bot keeps by default): is it delivered as a
 * document with default settings, and how far does the bot's RSS rise while it downloads, parses,
 * spools and uploads it, above its idle RSS just before the mail?
 *
 * Base64 makes the mail about 68.4 MiB. When the default MAX_MAIL_MB refuses a mail that big, that is
 * reported as a miss, and the memory is measured on a second bot whose MAX_MAIL_MB is raised just enough.
 */
import { loadConfig } from '../src/config.js';
import { DovecotServer } from '../test/dovecot/dovecot.js';
import { FakeTelegram } from '../test/fakes/telegram/fake-telegram.js';
import { bigPdfMail } from '../test/fixtures/superset-mail.js';
import type { BotProcess } from '../test/support/bot-process.js';
import { prepareDataDir, SEND_METHODS, sleep, startBotProcess } from './bot-setup.js';
import { MIB, mib, RssSampler, resetPeakRss, sampleProcess } from './process-stats.js';
import { Resources } from './resources.js';
import { informational, judged, type ResultRow } from './results-table.js';

const NAME = 'big-pdf';
const PDF_BYTES = 50 * MIB;
const GROWTH_TARGET_BYTES = 150 * MIB;

interface Outcome {
  /** The document as the chat received it, or null. */
  delivered: { fileName: string; fileSize: number } | null;
  /** Why not, from the bot's log, when it was not. */
  refusal: string | null;
  baselineRssBytes: number;
  peakRssBytes: number;
  appendToDeliveredMs: number | null;
}

/** Sends the mail to a fresh bot started with `extraEnv`; measures its RSS around the mail. */
async function deliverOnce(
  dovecot: DovecotServer,
  telegram: FakeTelegram,
  user: string,
  raw: Buffer,
  extraEnv: Record<string, string>,
): Promise<Outcome> {
  const resources = new Resources();
  try {
    const setup = await prepareDataDir({ dovecot, telegram, mailboxUsers: [user], readers: 1 }, resources);
    const chat = setup.chats[0]!;
    const bot: BotProcess = await startBotProcess({ ...setup.env, ...extraEnv }, resources);
    const pid = bot.child.pid!;
    await bot.waitForLine('connected to the mailbox', 30_000);
    // settle, then the baseline: the lowest of three readings a second apart
    await sleep(2000);
    let baselineRssBytes = Number.POSITIVE_INFINITY;
    for (let reading = 0; reading < 3; reading++) {
      baselineRssBytes = Math.min(baselineRssBytes, sampleProcess(pid).rssBytes);
      await sleep(1000);
    }
    resetPeakRss(pid);
    const sampler = new RssSampler(pid, 20);

    const lastSeq = telegram.calls.reduce((max, entry) => Math.max(max, entry.seq), 0);
    const appendedAt = Date.now();
    await dovecot.append(user, raw);
    const deadline = Date.now() + 180_000;
    let deliveredAt: number | null = null;
    let refusal: string | null = null;
    while (deliveredAt === null && refusal === null) {
      if (bot.child.exitCode !== null) throw new Error(`the bot exited (code ${bot.child.exitCode})`);
      const answered = telegram.calls.find(
        (entry) => entry.seq > lastSeq && SEND_METHODS.has(entry.method) && entry.status !== 0,
      );
      if (answered) deliveredAt = Date.now();
      const refused = bot.lines.find((line) => line.includes('recorded, not forwarded'));
      if (refused) refusal = (JSON.parse(refused) as { reason?: string }).reason ?? refused;
      if (Date.now() > deadline) throw new Error('the big PDF was neither delivered nor refused in 180 s');
      await sleep(50);
    }
    // whatever the bot still does after the answer (commit, clean-up) counts too
    await sleep(2000);
    sampler.stop();
    const peakRssBytes = Math.max(sampler.maxRssBytes, sampleProcess(pid).peakRssBytes);
    const document = telegram.messagesIn(chat).find((message) => message.type === 'document');
    return {
      delivered: document
        ? { fileName: document.file_name ?? '', fileSize: document.file_size ?? Number.NaN }
        : null,
      refusal,
      baselineRssBytes,
      peakRssBytes,
      appendToDeliveredMs: deliveredAt !== null && document ? deliveredAt - appendedAt : null,
    };
  } finally {
    await resources.release();
  }
}

/** Whether the chat received the PDF as a document of the right size. */
function deliveryRow(setting: string, outcome: Outcome): ResultRow {
  const document = outcome.delivered;
  return judged(
    NAME,
    `50 MiB PDF delivered as a document, ${setting}`,
    document
      ? `${document.fileName}, ${document.fileSize} bytes`
      : `no: ${outcome.refusal ?? 'nothing sent'}`,
    `a .pdf document of ${PDF_BYTES} bytes`,
    document !== null && document.fileSize === PDF_BYTES && document.fileName.endsWith('.pdf'),
  );
}

export async function bigPdfBenchmark(): Promise<ResultRow[]> {
  const resources = new Resources();
  try {
    const dovecot = resources.hold(await DovecotServer.start({ users: 2 }), 'Dovecot', (server) =>
      server.stop(),
    );
    const telegram = resources.hold(await FakeTelegram.start(), 'fake Bot API', (fake) => fake.stop());
    const raw = bigPdfMail(PDF_BYTES).raw;
    const rawMib = raw.length / MIB;
    console.log(`big-pdf: ${PDF_BYTES} byte PDF, mail ${raw.length} bytes (${rawMib.toFixed(1)} MiB)`);

    const rows: ResultRow[] = [];
    const defaults = `MAX_MAIL_MB=${loadConfig({}).MAX_MAIL_MB} (default)`;
    const withDefaults = await deliverOnce(dovecot, telegram, 'user1', raw, {});
    rows.push(deliveryRow(`with ${defaults}, mail ${rawMib.toFixed(1)} MiB`, withDefaults));
    let measured = withDefaults;
    let setting = defaults;
    if (!withDefaults.delivered) {
      const maxMailMb = Math.ceil(rawMib) + 1;
      setting = `MAX_MAIL_MB=${maxMailMb}`;
      measured = await deliverOnce(dovecot, telegram, 'user2', raw, { MAX_MAIL_MB: String(maxMailMb) });
      rows.push(deliveryRow(`with ${setting}`, measured));
    }
    const growth = measured.peakRssBytes - measured.baselineRssBytes;
    rows.push(
      informational(
        NAME,
        `idle RSS before the mail → peak RSS (${setting})`,
        `${mib(measured.baselineRssBytes)} → ${mib(measured.peakRssBytes)}`,
      ),
      judged(
        NAME,
        'peak RSS − idle RSS',
        `+${mib(growth)}`,
        `≤ +${GROWTH_TARGET_BYTES / MIB} MiB`,
        growth <= GROWTH_TARGET_BYTES,
      ),
    );
    if (measured.appendToDeliveredMs !== null) {
      rows.push(
        informational(
          NAME,
          'APPEND → document answered by the Bot API',
          `${(measured.appendToDeliveredMs / 1000).toFixed(1)} s`,
        ),
      );
    }
    return rows;
  } finally {
    await resources.release();
  }
}
