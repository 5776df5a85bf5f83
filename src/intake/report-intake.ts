/**
 * The step between a parsed mail and the outbox: decides what the mail is (a report to forward, mail
 * without files, mail from a sender that is not allowed, a duplicate), picks its recipients from the
 * directory snapshot, and records it all in one transaction together with the mailbox watermark.
 */
import { rmSync } from 'node:fs';
import { isSenderAllowed } from '../core/allowed-senders.js';
import type { MediaMode } from '../core/message-plan.js';
import { recipientsFor } from '../core/recipients.js';
import type { ParsedMail } from '../core/report.js';
import type { Directory, MailboxEntry } from '../directory/directory.js';
import type { AdminAlerts } from '../observability/admin-alerts.js';
import type { Logger } from '../observability/logger.js';
import type { MailPosition, NewDelivery, ReportStatus, ReportStore } from '../store/report-store.js';

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
  /** The language a chat is spoken to in. */
  languageOf: (chatId: number) => string;
  /** Called after a report with deliveries is committed. */
  onRecorded?: (reportId: number) => void;
  /** Observes every outcome (metrics). */
  onResult?: (mailbox: string, result: IntakeResult) => void;
  /** Told about mail that could not be forwarded at all (too large, unreadable). */
  alerts?: AdminAlerts;
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
  constructor(private readonly options: ReportIntakeOptions) {}

  /**
   * Records a parsed mail found at `position` in `mailbox`. The spool directory holding its files is
   * kept for a report with deliveries and removed otherwise.
   */
  recordParsed(
    mailbox: MailboxEntry,
    position: MailPosition,
    mail: ParsedMail,
    spoolDir: string,
  ): IntakeResult {
    const result = this.recordParsedMail(mailbox, position, mail, spoolDir);
    this.options.onResult?.(mailbox.email, result);
    return result;
  }

  /** Records a mail that could not be parsed (too large, unreadable), so the mailbox moves on. */
  recordUnparsed(mailbox: MailboxEntry, position: MailPosition, mail: UnparsedMail): IntakeResult {
    const result = this.recordUnparsedMail(mailbox, position, mail);
    this.options.onResult?.(mailbox.email, result);
    return result;
  }

  private recordParsedMail(
    mailbox: MailboxEntry,
    position: MailPosition,
    mail: ParsedMail,
    spoolDir: string,
  ): IntakeResult {
    const { store, logger } = this.options;
    const log = logger.child({ mailbox: mailbox.email, uid: position.uid });
    const earlier = store.findRecorded(position.mailbox, mail.rawSha256, mail.messageId);
    if (earlier !== null) {
      store.advanceWatermark(position);
      rmSync(spoolDir, { recursive: true, force: true });
      log.info(
        { reportId: earlier, subject: mail.subject },
        'mail already recorded (same message seen before): skipped',
      );
      return { reportId: earlier, status: 'duplicate', deliveries: 0 };
    }

    let status: ReportStatus = 'forward';
    let reason: string | null = null;
    const tooLarge = mail.skipped.filter((part) => part.tooLargeBytes !== undefined);
    if (!isSenderAllowed(mail.from, mailbox.allowFrom)) {
      status = 'rejected_sender';
      reason = `sender ${mail.from ?? '(none)'} is not in the allowed senders of ${mailbox.email}`;
    } else if (mail.files.length === 0 && tooLarge.length === 0) {
      status = 'no_files';
      reason =
        mail.skipped.length > 0
          ? `no PDF or PNG file (skipped: ${mail.skipped.map((part) => part.reason).join('; ')})`
          : 'no PDF or PNG file in the mail';
    }

    const deliveries: NewDelivery[] =
      status === 'forward'
        ? recipientsFor(mailbox, this.options.directory.snapshot(), this.options.defaultMediaMode).map(
            (recipient) => ({
              chatId: recipient.chatId,
              recipientKind: recipient.kind,
              recipientKey: recipient.key,
              recipientName: recipient.name,
              language: this.options.languageOf(recipient.chatId),
              mediaMode: recipient.mediaMode,
              threadId: recipient.threadId,
            }),
          )
        : [];
    const keepFiles = status === 'forward';
    const reportId = store.record(
      {
        position,
        mail: keepFiles ? mail : { ...mail, files: [] },
        status,
        reason,
        spoolDir: keepFiles && mail.files.length > 0 ? spoolDir : null,
      },
      deliveries,
    );
    if (!keepFiles || mail.files.length === 0) rmSync(spoolDir, { recursive: true, force: true });

    const fields = {
      reportId,
      subject: mail.subject,
      from: mail.from,
      files: mail.files.map((file) => `${file.filename} (${file.size} B)`),
      skipped: mail.skipped.map((part) => `${part.filename ?? part.contentType}: ${part.reason}`),
      deliveries: deliveries.length,
    };
    if (status === 'forward') {
      if (deliveries.length === 0)
        log.warn(fields, 'report recorded, but nobody with a Telegram chat is subscribed to this mailbox');
      else log.info(fields, 'report recorded');
      if (deliveries.length > 0) this.options.onRecorded?.(reportId);
    } else if (status === 'rejected_sender') {
      log.warn(
        { ...fields, reason },
        'mail from a sender that is not allowed: recorded as rejected, not forwarded',
      );
    } else {
      log.info({ ...fields, reason }, 'mail has no PDF or PNG: recorded, nothing to forward');
    }
    return { reportId, status, deliveries: deliveries.length };
  }

  private recordUnparsedMail(
    mailbox: MailboxEntry,
    position: MailPosition,
    mail: UnparsedMail,
  ): IntakeResult {
    const { store, logger } = this.options;
    const earlier = store.findRecorded(position.mailbox, mail.rawSha256, mail.messageId);
    if (earlier !== null) {
      store.advanceWatermark(position);
      return { reportId: earlier, status: 'duplicate', deliveries: 0 };
    }
    const reportId = store.record(
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
    );
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
