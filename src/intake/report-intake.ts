/**
 * The step between a parsed mail and the outbox: decides what the mail is (a report to forward, mail
 * without files, mail from a sender that is not allowed, a duplicate), picks its recipients from the
 * directory snapshot, and records it all in one transaction together with the mailbox watermark.
 */
import { Resolver } from 'node:dns/promises';
import { rmSync } from 'node:fs';
import { isSenderAllowed } from '../core/allowed-senders.js';
import type { MediaMode, TallImageMode } from '../core/message-plan.js';
import { recipientsFor } from '../core/recipients.js';
import type { ParsedMail, ReportFile } from '../core/report.js';
import { checkSender, type SenderAuthMode, type SenderAuthPolicy } from '../core/sender-auth.js';
import { recogniseSupersetNotice, reportNameOf, type SupersetNotice } from '../core/superset-notice.js';
import type { Directory, MailboxEntry } from '../directory/directory.js';
import { prepareReportImages, type TileLimits } from '../imaging/report-images.js';
import type { DnsResolver } from '../mail/dkim-verification.js';
import type { AdminAlerts } from '../observability/admin-alerts.js';
import type { Logger } from '../observability/logger.js';
import { SecretScrubber } from '../observability/secret-scrubber.js';
import { sanitizeServerText } from '../observability/server-text.js';
import type {
  MailPosition,
  NewDelivery,
  ReportStatus,
  ReportStore,
  WebhookArrival,
} from '../store/report-store.js';
import { DiskSpoolFiles, type SpoolFiles } from '../store/spool-files.js';
import type { SettledRetries } from '../store/superset-notices.js';

export interface IntakeResult {
  /** The recorded report, or the earlier one for a duplicate. */
  reportId: number;
  status: ReportStatus | 'duplicate';
  deliveries: number;
}

export interface ReportIntakeOptions {
  store: ReportStore;
  directory: Directory;
  logger: Logger;
  defaultMediaMode: MediaMode;
  /** TALL_IMAGE_MODE: how tall PNGs go to chats whose group and mailbox set none (default 'tiles+document'). */
  defaultTallImageMode?: TallImageMode;
  /**
   * The image work done at intake ({@link ReportIntake.prepareImages}): tiles for tall PNGs and blank
   * screenshot detection. Absent: PNGs are neither measured nor cut.
   */
  images?: IntakeImageOptions;
  /**
   * Where the recorded files are kept for any instance to send (`spoolFilesFor`): staged before the
   * recording transaction, kept inside it. Default: on disk only (SQLite).
   */
  spoolFiles?: SpoolFiles;
  /** The language a chat is spoken to in. */
  languageOf: (chatId: number) => string | Promise<string>;
  /** Called after a report with deliveries is committed. */
  onRecorded?: (reportId: number) => void;
  /** Observes every outcome (metrics). */
  onResult?: (mailbox: string, result: IntakeResult) => void;
  /** Told about mail that could not be forwarded at all (too large, unreadable), and forged senders. */
  alerts?: AdminAlerts;
  /** SENDER_AUTH: the rule of mailboxes that have none of their own (default 'off'). */
  senderAuth?: SenderAuthMode;
  /** SENDER_AUTHSERV_ID: the trusted authserv-id of mailboxes that name none. */
  authservId?: string | null;
  /** Looks up DKIM keys (node:dns when not given). */
  dnsResolver?: DnsResolver;
  /**
   * SUPERSET_URL: when set, only a link under this address becomes the report's link; others are dropped.
   */
  supersetUrl?: string | null;
  /**
   * How long a mail whose sender check meets a temporary DNS failure is read again, counted from the
   * first such failure (in this process); after that it is recorded as rejected and the admin chat is
   * told, so that a sender's broken DNS cannot hold back every later report of the mailbox. Default 1 h.
   */
  senderCheckRetryMs?: number;
  /**
   * SUPERSET_NOTICES: what becomes of Superset's own notices (see core/superset-notice.ts): `admin`
   * (default) tells the admin chat; `subscribers` also queues "not produced" for the mailbox's
   * recipients; `off` records them silently.
   */
  supersetNotices?: SupersetNoticesMode;
  /** Masks secrets in the names quoted to the admin chat (none known when not given). */
  scrubber?: SecretScrubber;
  now?: () => number;
}

/** The values of SUPERSET_NOTICES. */
export type SupersetNoticesMode = 'admin' | 'subscribers' | 'off';

/**
 * Subscribers hear of one failed report once in this time, though Superset may send an error notice
 * and then a final failure for the same run.
 */
const SUBSCRIBER_NOTICE_WINDOW_MS = 12 * 3600_000;
/** Longest report name quoted in the admin chat. */
const ADMIN_NAME_MAX_LENGTH = 120;

/** What {@link ReportIntakeOptions.images} sets. */
export interface IntakeImageOptions {
  /** The photo limits tiles must meet (PHOTO_MAX_ASPECT_RATIO, Telegram's 10000 px sum). */
  tileLimits: TileLimits;
  /** BLANK_SCREENSHOTS: a report with a blank PNG is still sent (`deliver`) or recorded only (`hold`). */
  blankScreenshots: 'deliver' | 'hold';
  /** BLANK_SCREENSHOT_SHARE: the share of one colour from which a PNG counts as blank. */
  blankShare: number;
  /** Largest image decoded, in pixels (default: src/imaging's, 100 Mpx). */
  maxPixels?: number;
}

/** The sender-authentication check could not be done now (DNS failure): the mail is to be read again later. */
export class SenderCheckUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SenderCheckUnavailableError';
  }
}

/** Masks nothing: for intakes built without the bot's scrubber (tests). */
const NO_SECRETS = new SecretScrubber();

/** Least time between two admin-chat messages about the same failing sender. */
const SENDER_ALERT_INTERVAL_MS = 60 * 60_000;
/** Senders remembered for that pacing; past this, entries older than the interval are forgotten. */
const SENDER_ALERT_MEMORY = 1000;
/** Default of {@link ReportIntakeOptions.senderCheckRetryMs}. */
const SENDER_CHECK_RETRY_MS = 60 * 60_000;
/** Mails remembered with a pending DNS failure; past this, those past the retry time are forgotten. */
const SENDER_CHECK_MEMORY = 1000;

/** Answers that settle a lookup: the name or record does not exist. Anything else is worth a retry. */
const FINAL_DNS_CODES = new Set(['ENOTFOUND', 'ENODATA', 'ENONAME', 'EFORMERR', 'EBADNAME']);

/**
 * The resolver for DKIM keys: DNS_SERVERS (`host` or `host:port`, separated by commas) or the
 * system's. A failed lookup (SERVFAIL, timeout) is tried again twice, 2 s apart, so a blip of the
 * resolver does not hold a report back.
 */
export function dnsResolverFor(servers?: string, retryDelayMs = 2000): DnsResolver {
  const resolver = new Resolver({ timeout: 3000, tries: 2 });
  if (servers) resolver.setServers(servers.split(',').map((server) => server.trim()));
  return async (name, type) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await resolver.resolve(name, type);
      } catch (error) {
        const code = String((error as NodeJS.ErrnoException).code ?? '');
        if (FINAL_DNS_CODES.has(code) || attempt >= 3) throw error;
        await new Promise((resolve) => setTimeout(resolve, retryDelayMs));
      }
    }
  };
}

/** Whether `link` lies under `base` (same scheme, host and port; path at or below base's path). */
export function isLinkUnder(link: string, base: string): boolean {
  try {
    const url = new URL(link);
    const root = new URL(base);
    if (url.origin !== root.origin || url.username || url.password) return false;
    const prefix = root.pathname.endsWith('/') ? root.pathname : `${root.pathname}/`;
    return url.pathname === root.pathname || url.pathname.startsWith(prefix);
  } catch {
    return false;
  }
}

/** A mail that was not parsed: why, and what is known of it from the IMAP envelope. */
export interface UnparsedMail {
  status: 'too_large' | 'unreadable';
  reason: string;
  subject: string;
  from: string | null;
  messageId: string | null;
  rawSize: number;
  /** Identifies the mail for deduplication when its bytes were not read. */
  rawSha256: string;
  /**
   * An unreadable mail's raw bytes, kept for inspection: the spool directory (removed with the
   * report's spool) and the file in it.
   */
  rawCopy?: { dir: string; path: string; truncated: boolean };
}

export class ReportIntake {
  /** When the admin chat was last told about a sender failing authentication. */
  private readonly senderAlertedAt = new Map<string, number>();
  /** When the sender check of a mail (mailbox, UIDVALIDITY, UID) first met a temporary DNS failure. */
  private readonly senderCheckFailingSince = new Map<string, number>();

  private readonly spoolFiles: SpoolFiles;

  constructor(private readonly options: ReportIntakeOptions) {
    this.spoolFiles = options.spoolFiles ?? new DiskSpoolFiles();
  }

  /** The sender-authentication rule in force for `mailbox`. */
  senderAuthOf(mailbox: MailboxEntry): SenderAuthPolicy {
    return mailbox.senderAuth ?? { mode: this.options.senderAuth ?? 'off', authservId: null };
  }

  /** What the mail parser must do for this mailbox's rule: verify DKIM (with this resolver), or not. */
  dkimFor(mailbox: MailboxEntry): { resolver?: DnsResolver } | null {
    if (this.senderAuthOf(mailbox).mode !== 'dkim') return null;
    return this.options.dnsResolver ? { resolver: this.options.dnsResolver } : {};
  }

  /**
   * Measures the PNGs of a parsed mail (or webhook POST) and cuts the tall ones into tiles in `spoolDir`
   * (once per report, before it is recorded: every chat then gets the same tiles, fanned out by
   * file_id). Mail already recorded (for the webhook: the same POST recorded within `retryWindowMs`,
   * as {@link recordWebhook} judges it), and mail none of whose recipients wants tiles, is only measured
   * or left as it is. A PNG that cannot be read (a decompression bomb, a broken file) goes whole, and
   * the admin chat is told.
   */
  async prepareImages(
    mailbox: MailboxEntry,
    position: MailPosition | WebhookArrival,
    mail: ParsedMail,
    spoolDir: string,
    retryWindowMs: number | null = null,
  ): Promise<ParsedMail> {
    const images = this.options.images;
    if (!images || !mail.files.some((file) => file.contentType === 'image/png')) return mail;
    const since =
      retryWindowMs === null
        ? null
        : new Date((this.options.now ?? Date.now)() - retryWindowMs).toISOString();
    if (
      (await this.options.store.findRecorded(position.mailbox, mail.rawSha256, mail.messageId, since)) !==
      null
    )
      return mail;
    const wantsTiles = recipientsFor(
      mailbox,
      this.options.directory.snapshot(),
      this.options.defaultMediaMode,
      this.options.defaultTallImageMode,
    ).some((recipient) => recipient.mediaMode !== 'document' && recipient.tallImageMode !== 'document');
    const { files, problems } = await prepareReportImages(mail.files, spoolDir, {
      limits: images.tileLimits,
      makeTiles: wantsTiles,
      ...(images.maxPixels !== undefined ? { maxPixels: images.maxPixels } : {}),
    });
    const where = 'uid' in position ? { uid: position.uid } : { via: position.via };
    const alertKey =
      'uid' in position
        ? `${position.uidValidity}:${position.uid}`
        : `webhook:${mail.messageId ?? mail.rawSha256}`;
    for (const problem of problems) {
      this.options.logger.warn(
        { mailbox: mailbox.email, ...where, file: problem.filename, reason: problem.reason },
        'a PNG could not be measured or cut into tiles: it goes whole, as a document',
      );
      this.options.alerts?.raise(
        `image-unreadable:${mailbox.email}:${alertKey}:${problem.filename}`,
        `The image ${problem.filename} of "${mail.subject || '(no subject)'}" in ${mailbox.email} could not be read for tiles or blank detection (${problem.reason}); it is sent whole, as a document.`,
      );
    }
    return { ...mail, files };
  }

  /**
   * Records a parsed mail found at `position` in `mailbox`. The spool directory holding its files is
   * kept for a report with deliveries and removed otherwise.
   */
  async recordParsed(
    mailbox: MailboxEntry,
    position: MailPosition,
    mail: ParsedMail,
    spoolDir: string,
  ): Promise<IntakeResult> {
    const result = await this.recordParsedMail(mailbox, position, mail, spoolDir);
    this.observe(mailbox, result);
    return result;
  }

  /**
   * Records a report POSTed to the mailbox's webhook URL (already parsed, its files in `spoolDir`),
   * exactly as a mail with the same subject, description, link and files would be, with two
   * differences: the URL's token is what proves the sender, so the mailbox's allowed senders and
   * sender authentication do not apply; and the same report (same `messageId`, the content
   * fingerprint) recorded within `retryWindowMs` is Superset retrying, not a new report.
   */
  async recordWebhook(
    mailbox: MailboxEntry,
    mail: ParsedMail,
    spoolDir: string,
    retryWindowMs: number,
  ): Promise<IntakeResult> {
    const arrival: WebhookArrival = { mailbox: mailbox.email, via: 'webhook' };
    const result = await this.recordParsedMail(mailbox, arrival, mail, spoolDir, retryWindowMs);
    this.observe(mailbox, result);
    return result;
  }

  /**
   * Tells onResult. The report is committed by now: a failing observer must not make the caller
   * believe the mail was not recorded (it would remove the report's spooled files and read it again).
   */
  private observe(mailbox: MailboxEntry, result: IntakeResult): void {
    try {
      this.options.onResult?.(mailbox.email, result);
    } catch (error) {
      this.options.logger.error(
        { err: error, mailbox: mailbox.email, reportId: result.reportId },
        'observing a recorded mail failed; the report stays recorded',
      );
    }
  }

  /** Records a mail that could not be parsed (too large, unreadable), so the mailbox moves on. */
  async recordUnparsed(
    mailbox: MailboxEntry,
    position: MailPosition,
    mail: UnparsedMail,
  ): Promise<IntakeResult> {
    const result = await this.recordUnparsedMail(mailbox, position, mail);
    this.observe(mailbox, result);
    return result;
  }

  private async recordParsedMail(
    mailbox: MailboxEntry,
    position: MailPosition | WebhookArrival,
    mail: ParsedMail,
    spoolDir: string,
    retryWindowMs: number | null = null,
  ): Promise<IntakeResult> {
    const { store, logger } = this.options;
    const imap = 'uid' in position ? position : null;
    const log = logger.child(
      imap ? { mailbox: mailbox.email, uid: imap.uid } : { mailbox: mailbox.email, via: 'webhook' },
    );
    const since =
      retryWindowMs === null
        ? null
        : new Date((this.options.now ?? Date.now)() - retryWindowMs).toISOString();
    const duplicateOf = (earlier: number): IntakeResult => {
      rmSync(spoolDir, { recursive: true, force: true });
      log.info(
        { reportId: earlier, subject: mail.subject },
        'mail already recorded (same message seen before): skipped',
      );
      return { reportId: earlier, status: 'duplicate', deliveries: 0 };
    };
    const earlier = await store.findRecorded(position.mailbox, mail.rawSha256, mail.messageId, since);
    if (earlier !== null) {
      if (imap) await store.advanceWatermark(imap);
      return duplicateOf(earlier);
    }

    let status: ReportStatus = 'forward';
    let reason: string | null = null;
    const tooLarge = mail.skipped.filter((part) => part.tooLargeBytes !== undefined);
    // the webhook has no From: the secret token in its URL is what proves the sender
    const policy: SenderAuthPolicy = imap ? this.senderAuthOf(mailbox) : { mode: 'off', authservId: null };
    const verdict = checkSender(
      mail.from,
      mail.evidence,
      policy.mode,
      policy.authservId ?? this.options.authservId ?? null,
    );
    const allowed = imap ? isSenderAllowed(mail.from, mailbox.allowFrom) : true;
    const failingKey = imap ? `${imap.mailbox}\n${imap.uidValidity}\n${imap.uid}` : '';
    let dnsGaveUpAfterMs: number | null = null;
    let notice: SupersetNotice | null = null;
    if (allowed && !verdict.ok && verdict.temporary) {
      // a DNS failure says nothing about the sender: nothing is recorded, the mail is read again
      // later, but only for a while: the watermark waits on this mail, and with it every later report
      const now = (this.options.now ?? Date.now)();
      const since = this.senderCheckFailingSince.get(failingKey) ?? now;
      const limit = this.options.senderCheckRetryMs ?? SENDER_CHECK_RETRY_MS;
      if (now - since < limit) {
        this.rememberFailingCheck(failingKey, since, now, limit);
        rmSync(spoolDir, { recursive: true, force: true });
        throw new SenderCheckUnavailableError(
          `sender authentication could not be checked now: ${verdict.reason}`,
        );
      }
      dnsGaveUpAfterMs = now - since;
    }
    this.senderCheckFailingSince.delete(failingKey);
    if (!allowed) {
      status = 'rejected_sender';
      reason = `sender ${mail.from ?? '(none)'} is not in the allowed senders of ${mailbox.email}`;
    } else if (dnsGaveUpAfterMs !== null) {
      status = 'rejected_sender';
      reason = `sender ${mail.from ?? '(none)'} not authenticated (${policy.mode}): temporary DNS failure for ${Math.round(dnsGaveUpAfterMs / 60_000)} minutes: ${verdict.ok ? '' : verdict.reason}`;
    } else if (!verdict.ok) {
      status = 'rejected_sender';
      reason = `sender ${mail.from ?? '(none)'} failed sender authentication (${policy.mode}): ${verdict.reason}`;
      this.alertForgedSender(mailbox, mail, reason);
    } else if (mail.files.length === 0 && tooLarge.length === 0 && !mail.textTable) {
      // (a TEXT report is a report, never a notice)
      // the same (subject, text) the webhook intake hands over as the notice's name and text
      notice = recogniseSupersetNotice(mail.subject, mail.description);
    }
    if (notice) {
      status = 'superset_notice';
      reason = `Superset notice (${notice.kind}) about "${notice.reportName}"`;
    } else if (
      status === 'forward' &&
      mail.files.length === 0 &&
      tooLarge.length === 0 &&
      mail.textTable?.delivery !== 'message'
    ) {
      status = 'no_files';
      reason =
        mail.skipped.length > 0
          ? `no PDF or PNG file (skipped: ${mail.skipped.map((part) => part.reason).join('; ')})`
          : 'no PDF or PNG file in the mail';
    }

    const mode = this.options.supersetNotices ?? 'admin';
    const blank = status === 'forward' ? this.blankImages(mail.files) : [];
    const held = blank.length > 0 && this.options.images?.blankScreenshots === 'hold';
    if (held)
      reason = 'held: blank or unfinished screenshot (BLANK_SCREENSHOTS=hold); release it with resend';
    const keepFiles = status === 'forward';
    const link = this.trustedLink(mail);
    const keptFiles = keepFiles ? mail.files : [];
    // copied into the database (DATABASE_URL) outside the transaction, which then only marks them kept
    await this.spoolFiles.stage(keptFiles);
    // one transaction from the duplicate check to the watermark: a copy of this mail recorded meanwhile
    // (the webhook's retry while this POST was being read) is recognised here, and the notice check sees
    // no other notice come in between (database work only in here)
    const outcome = await store.transaction(async () => {
      const again = await store.findRecorded(position.mailbox, mail.rawSha256, mail.messageId, since);
      if (again !== null) {
        if (imap) await store.advanceWatermark(imap);
        return { duplicateOf: again };
      }
      const toldSubscribers =
        notice !== null &&
        mode === 'subscribers' &&
        notice.kind !== 'retry' &&
        !notice.ownersOnly &&
        !(await store.notices.subscribersToldWithin(
          mailbox.email,
          notice.reportName,
          SUBSCRIBER_NOTICE_WINDOW_MS,
        ));
      const recipients =
        (status === 'forward' && !held) || toldSubscribers
          ? recipientsFor(
              mailbox,
              this.options.directory.snapshot(),
              this.options.defaultMediaMode,
              this.options.defaultTallImageMode,
            )
          : [];
      const deliveries: NewDelivery[] = [];
      for (const recipient of recipients) {
        deliveries.push({
          chatId: recipient.chatId,
          recipientKind: recipient.kind,
          recipientKey: recipient.key,
          recipientName: recipient.name,
          language: await this.options.languageOf(recipient.chatId),
          mediaMode: recipient.mediaMode,
          tallImageMode: recipient.tallImageMode,
          threadId: recipient.threadId,
        });
      }
      let settled = null as SettledRetries | null;
      const reportId = await store.record(
        {
          position,
          mail: { ...mail, link, files: keptFiles },
          status,
          reason,
          spoolDir: keepFiles && mail.files.length > 0 ? spoolDir : null,
          held,
        },
        deliveries,
        async (id) => {
          // in the report's transaction: a crash leaves both the notice and its effects, or neither
          await this.spoolFiles.keep(keptFiles);
          if (notice) {
            await store.notices.insert(id, mailbox.email, notice, toldSubscribers && deliveries.length > 0);
            if (notice.kind === 'final-failure')
              await store.notices.settleRetries(mailbox.email, notice.reportName);
          } else if (status === 'forward') {
            settled = await store.notices.settleRetries(mailbox.email, reportNameOf(mail.subject));
          }
        },
      );
      return { recorded: { reportId, deliveries, settled } };
    });
    if (!outcome.recorded) return duplicateOf(outcome.duplicateOf);
    const { reportId, deliveries, settled } = outcome.recorded;
    if (!keepFiles || mail.files.length === 0) rmSync(spoolDir, { recursive: true, force: true });

    const fields = {
      reportId,
      subject: mail.subject,
      from: mail.from,
      files: mail.files.map((file) => `${file.filename} (${file.size} B)`),
      skipped: mail.skipped.map((part) => `${part.filename ?? part.contentType}: ${part.reason}`),
      deliveries: deliveries.length,
    };
    if (deliveries.length > 0) {
      // committed: a failing wake-up must not look like a mail that was not recorded (the caller
      // would remove its spooled files and read it again as a duplicate)
      try {
        this.options.onRecorded?.(reportId);
      } catch (error) {
        log.error({ err: error, reportId }, 'announcing a recorded report failed; it stays recorded');
      }
    }
    // committed: telling the admin chat must not fail the recording either
    try {
      if (notice) this.tellAdminOfNotice(mailbox, notice, reportId, mode, deliveries.length);
      else if (settled && settled.retries > 0)
        this.tellAdminOfRecovery(mailbox, mail.subject, reportId, settled, held);
    } catch (error) {
      log.error({ err: error, reportId }, 'telling the admin chat about a Superset notice failed');
    }
    if (blank.length > 0) this.alertBlank(mailbox, mail, reportId, blank, held);
    if (notice) {
      log.info({ ...fields, notice: notice.kind, reportName: notice.reportName }, 'Superset notice recorded');
    } else if (held) {
      log.warn({ ...fields, reason }, 'report looks blank: recorded and held, not sent');
    } else if (status === 'forward') {
      if (deliveries.length === 0)
        log.warn(fields, 'report recorded, but nobody with a Telegram chat is subscribed to this mailbox');
      else log.info(fields, 'report recorded');
    } else if (status === 'rejected_sender') {
      log.warn(
        { ...fields, reason },
        'mail from a sender that is not allowed: recorded as rejected, not forwarded',
      );
    } else {
      log.info({ ...fields, reason }, 'mail has no PDF or PNG: recorded, nothing to forward');
    }
    if (dnsGaveUpAfterMs !== null) {
      this.options.alerts?.raise(
        `sender-check-gave-up:${mailbox.email}:${reportId}`,
        `A mail in ${mailbox.email} claiming to be from ${mail.from ?? '(none)'} was not forwarded: "${mail.subject || '(no subject)'}" — ${reason}. Its files were not kept; ask the sender to send it again once its DNS answers.`,
      );
    }
    return { reportId, status, deliveries: deliveries.length };
  }

  /** A report name or mailbox as quoted in the admin chat: one clean line, bounded, no secret. */
  private safe(text: string): string {
    return sanitizeServerText(text, this.options.scrubber ?? NO_SECRETS, ADMIN_NAME_MAX_LENGTH);
  }

  /** The one-line admin-chat message about a Superset notice (SUPERSET_NOTICES admin or subscribers). */
  private tellAdminOfNotice(
    mailbox: MailboxEntry,
    notice: SupersetNotice,
    reportId: number,
    mode: SupersetNoticesMode,
    told: number,
  ): void {
    if (mode === 'off') return;
    const name = `"${this.safe(notice.reportName)}"`;
    const where = this.safe(mailbox.email);
    const what =
      notice.kind === 'retry'
        ? `Superset is retrying report ${name}${notice.attempt ? ` (attempt ${notice.attempt} of ${notice.maxAttempts})` : ''} in ${where}`
        : notice.kind === 'final-failure'
          ? `Superset gave up on report ${name} (all retries exhausted) in ${where}`
          : `Superset could not produce report ${name}${notice.ownersOnly ? ' (error mail to its owners)' : ''} in ${where}`;
    const subscribers =
      told > 0 ? `; ${told} recipient chat${told === 1 ? '' : 's'} told it was not produced` : '';
    this.options.alerts?.raise(`superset-notice:${mailbox.email}:${reportId}`, `${what}${subscribers}.`);
  }

  /** A report delivered after retry notices: the admin chat hears the run ended well. */
  private tellAdminOfRecovery(
    mailbox: MailboxEntry,
    subject: string,
    reportId: number,
    settled: SettledRetries,
    held: boolean,
  ): void {
    if ((this.options.supersetNotices ?? 'admin') === 'off') return;
    const count = settled.lastAttempt ?? settled.retries;
    const retries = `${count} ${count === 1 ? 'retry' : 'retries'}`;
    const name = `Report "${this.safe(reportNameOf(subject))}" in ${this.safe(mailbox.email)}`;
    // Superset's run ended with a mail either way (the retries are settled), but a held one was not sent
    this.options.alerts?.raise(
      `superset-recovered:${mailbox.email}:${reportId}`,
      held
        ? `${name} came after ${retries}, but is held as a blank screenshot, not delivered (report ${reportId}).`
        : `${name} delivered after ${retries}.`,
    );
  }

  /** The PNGs measured as blank (one colour over BLANK_SCREENSHOT_SHARE of their pixels). */
  private blankImages(files: readonly ReportFile[]): ReportFile[] {
    const threshold = this.options.images?.blankShare;
    if (threshold === undefined) return [];
    return files.filter((file) => file.backgroundShare !== undefined && file.backgroundShare >= threshold);
  }

  /** Tells the admin chat which report of which mailbox looks blank, and whether it was sent. */
  private alertBlank(
    mailbox: MailboxEntry,
    mail: ParsedMail,
    reportId: number,
    blank: readonly ReportFile[],
    held: boolean,
  ): void {
    const images = blank
      .map(
        (file) =>
          `${file.filename} (${(100 * (file.backgroundShare ?? 0)).toFixed(1)}% background: blank page or empty cards)`,
      )
      .join(', ');
    this.options.alerts?.raise(
      `blank-screenshot:${reportId}`,
      `Report ${reportId} "${mail.subject || '(no subject)'}" in ${mailbox.email} looks blank or unfinished (taken before its charts rendered?): ${images}. ${
        held
          ? `It is held, not sent (BLANK_SCREENSHOTS=hold): send it with: superset-telegram-bot resend ${reportId} (its files are kept for SPOOL_RETENTION_HOURS), or let it go.`
          : 'It was sent anyway (BLANK_SCREENSHOTS=deliver).'
      }`,
    );
  }

  /** Remembers when a mail's sender check first failed temporarily, forgetting stale entries. */
  private rememberFailingCheck(key: string, since: number, now: number, limit: number): void {
    if (!this.senderCheckFailingSince.has(key) && this.senderCheckFailingSince.size >= SENDER_CHECK_MEMORY) {
      for (const [known, at] of this.senderCheckFailingSince)
        if (now - at >= limit) this.senderCheckFailingSince.delete(known);
    }
    this.senderCheckFailingSince.set(key, since);
  }

  /** The report's link: the parser's choice, or with SUPERSET_URL the first link under it (else none). */
  private trustedLink(mail: ParsedMail): string | null {
    const base = this.options.supersetUrl;
    if (!base) return mail.link;
    const candidates = mail.links ?? (mail.link ? [mail.link] : []);
    return candidates.find((link) => isLinkUnder(link, base)) ?? null;
  }

  /** Tells the admin chat about a sender that failed authentication, once per sender and hour. */
  private alertForgedSender(mailbox: MailboxEntry, mail: ParsedMail, reason: string): void {
    const sender = mail.from ?? '(none)';
    const now = (this.options.now ?? Date.now)();
    const last = this.senderAlertedAt.get(sender);
    if (last !== undefined && now - last < SENDER_ALERT_INTERVAL_MS) return;
    if (this.senderAlertedAt.size >= SENDER_ALERT_MEMORY) {
      for (const [known, at] of this.senderAlertedAt)
        if (now - at >= SENDER_ALERT_INTERVAL_MS) this.senderAlertedAt.delete(known);
    }
    this.senderAlertedAt.set(sender, now);
    this.options.alerts?.raise(
      `sender-auth-failed:${sender}`,
      `A mail in ${mailbox.email} claiming to be from ${sender} was not forwarded: "${mail.subject || '(no subject)'}" — ${reason}`,
    );
  }

  private async recordUnparsedMail(
    mailbox: MailboxEntry,
    position: MailPosition,
    mail: UnparsedMail,
  ): Promise<IntakeResult> {
    const { store, logger } = this.options;
    // the raw copy of an unreadable mail, for inspection from any instance
    const rawCopy = mail.rawCopy ? [{ path: mail.rawCopy.path }] : [];
    await this.spoolFiles.stage(rawCopy);
    const reportId = await store.transaction(async () => {
      const earlier = await store.findRecorded(position.mailbox, mail.rawSha256, mail.messageId);
      if (earlier !== null) {
        await store.advanceWatermark(position);
        return { duplicateOf: earlier };
      }
      return store.record(
        {
          position,
          mail: {
            subject: mail.subject,
            from: mail.from,
            date: null,
            messageId: mail.messageId,
            link: null,
            description: '',
            files: [],
            skipped: [],
            rawSize: mail.rawSize,
            rawSha256: mail.rawSha256,
          },
          status: mail.status,
          reason: mail.reason,
          spoolDir: mail.rawCopy?.dir ?? null,
        },
        [],
        () => this.spoolFiles.keep(rawCopy),
      );
    });
    if (typeof reportId !== 'number')
      return { reportId: reportId.duplicateOf, status: 'duplicate', deliveries: 0 };
    logger
      .child({ mailbox: mailbox.email, uid: position.uid })
      .warn(
        { reportId, subject: mail.subject, reason: mail.reason },
        `mail ${mail.status === 'too_large' ? 'too large' : 'unreadable'}: recorded, not forwarded`,
      );
    this.options.alerts?.raise(
      `mail-not-forwarded:${mailbox.email}:${reportId}`,
      `A mail in ${mailbox.email} was not forwarded (${mail.status === 'too_large' ? 'too large' : 'unreadable'}): "${mail.subject || '(no subject)'}" — ${mail.reason}${
        mail.rawCopy
          ? `. Its raw bytes${mail.rawCopy.truncated ? ' (cut at MAX_MAIL_MB)' : ''} are kept for inspection in ${mail.rawCopy.path} (removed after SPOOL_RETENTION_HOURS).`
          : ''
      }`,
    );
    return { reportId, status: mail.status, deliveries: 0 };
  }
}
