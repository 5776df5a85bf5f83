/**
 * One mail, from the IMAP server to a recorded report: download, parse (files into the spool) and
 * record, in one go. Only a mail whose own bytes cannot be read is recorded as unreadable, with
 * those bytes kept in the spool for inspection; every other failure is thrown as MailNotReadError
 * and leaves the watermark where it was.
 */
import { createHash, randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import path from 'node:path';
import type { FetchMessageObject, ImapFlow } from 'imapflow';
import type { ForwardFileType } from '../core/report.js';
import type { MailboxEntry } from '../directory/directory.js';
import type { IntakeResult, ReportIntake, UnparsedMail } from '../intake/report-intake.js';
import { parseMail, UnreadableMailError } from '../mail/mail-parser.js';
import type { SecretScrubber } from '../observability/secret-scrubber.js';
import { sanitizeServerText } from '../observability/server-text.js';
import type { MailPosition, ReportStore } from '../store/report-store.js';
import { keepRawMail } from '../store/spool.js';
import { describeImapError, MailNotReadError } from './imap-errors.js';

export interface MailRecorderOptions {
  mailbox: MailboxEntry;
  store: ReportStore;
  intake: ReportIntake;
  scrubber: SecretScrubber;
  /** Root of the file spool; each mail gets its own directory inside. */
  spoolRoot: string;
  maxMailBytes: number;
  maxFileBytes: number;
  /** FORWARD_FILE_TYPES (default pdf, png). */
  forwardTypes?: readonly ForwardFileType[];
}

export function isoOf(date: Date | string | undefined): string | null {
  if (!date) return null;
  const value = date instanceof Date ? date : new Date(date);
  return Number.isNaN(value.getTime()) ? null : value.toISOString();
}

export class MailRecorder {
  constructor(private readonly options: MailRecorderOptions) {}

  /**
   * Downloads, parses and records the mail at `message.uid`. Resolves with the outcome, or null when
   * the mail was expunged meanwhile (the watermark moves past it). Throws MailNotReadError for
   * anything that is not about the mail's own bytes: the watermark stays, the mail is tried again.
   */
  async record(
    client: ImapFlow,
    uidValidity: string,
    message: FetchMessageObject,
  ): Promise<IntakeResult | null> {
    const { mailbox, intake } = this.options;
    const position: MailPosition = {
      mailbox: mailbox.email,
      uidValidity,
      uid: message.uid,
      internalDate: isoOf(message.internalDate),
    };
    const envelope = message.envelope;
    const known = {
      subject: (envelope?.subject ?? '').replace(/\s+/g, ' ').trim(),
      from: envelope?.from?.[0]?.address?.toLowerCase() ?? null,
      messageId: envelope?.messageId?.replace(/^<|>$/g, '') || null,
      rawSize: message.size ?? 0,
    };
    // identifies a mail whose bytes were never read
    const envelopeFingerprint = createHash('sha256')
      .update(
        JSON.stringify([known.messageId, known.subject, known.from, known.rawSize, position.internalDate]),
      )
      .digest('hex');

    let result: IntakeResult | null = null;
    if (known.rawSize > this.options.maxMailBytes) {
      result = await intake.recordUnparsed(mailbox, position, {
        ...known,
        status: 'too_large',
        reason: `mail is ${known.rawSize} bytes, over the ${this.options.maxMailBytes}-byte limit (MAX_MAIL_MB)`,
        rawSha256: envelopeFingerprint,
      });
    } else {
      const spoolDir = path.join(this.options.spoolRoot, randomUUID());
      let unreadable: UnreadableMailError | null = null;
      try {
        const download = await client.download(String(message.uid), undefined, { uid: true });
        if (!download.content) {
          await this.confirmGone(client, message.uid);
          // expunged between FETCH and download: nothing to record, move on
          await this.options.store.advanceWatermark(position);
          return null;
        }
        const parsed = await parseMail(download.content, {
          spoolDir,
          maxFileBytes: this.options.maxFileBytes,
          ...(this.options.forwardTypes ? { forwardTypes: this.options.forwardTypes } : {}),
          maxMailBytes: this.options.maxMailBytes,
          dkim: intake.dkimFor(mailbox),
        });
        const prepared = await intake.prepareImages(mailbox, position, parsed, spoolDir);
        result = await intake.recordParsed(mailbox, position, prepared, spoolDir);
      } catch (error) {
        await this.removeUnrecordedSpool(spoolDir);
        // only the mail's own bytes make it unreadable; a server refusal, a dropped connection, a
        // full disk or a busy database leave the watermark here, and the mail is tried again
        if (!(error instanceof UnreadableMailError) || !client.usable) {
          throw new MailNotReadError(message.uid, describeImapError(error, this.options.scrubber));
        }
        unreadable = error;
      }
      if (unreadable) {
        result = await this.recordUnreadable(client, position, known, unreadable, envelopeFingerprint);
      }
    }
    return result;
  }

  /**
   * Removes the spool directory of a mail that failed on its way in, unless a report was recorded
   * with it before the failure (its files are that report's now; reading the mail again finds a
   * duplicate and must not find the files gone). When the store cannot say, the directory stays: the
   * start-up clean-up of unreferenced spool directories removes it if no report holds it.
   */
  private async removeUnrecordedSpool(spoolDir: string): Promise<void> {
    let referenced: boolean;
    try {
      referenced = (await this.options.store.referencedSpoolDirs()).has(spoolDir);
    } catch {
      return;
    }
    if (!referenced) rmSync(spoolDir, { recursive: true, force: true });
  }

  /** The server gave no content for a UID: fine if the mail is gone, an error if it is still there. */
  private async confirmGone(client: ImapFlow, uid: number): Promise<void> {
    if (!client.usable) throw new Error('the connection closed during the download');
    const still = await client.fetchOne(String(uid), { uid: true }, { uid: true });
    if (still) throw new Error('the server returned no content for a mail that is still in the folder');
  }

  /** Records a mail whose bytes cannot be read, keeping those bytes in the spool for inspection. */
  private async recordUnreadable(
    client: ImapFlow,
    position: MailPosition,
    known: Pick<UnparsedMail, 'subject' | 'from' | 'messageId' | 'rawSize'>,
    error: UnreadableMailError,
    envelopeFingerprint: string,
  ): Promise<IntakeResult> {
    const { mailbox, intake, scrubber } = this.options;
    const rawDir = path.join(this.options.spoolRoot, randomUUID());
    let rawCopy: UnparsedMail['rawCopy'];
    try {
      const again = await client.download(String(position.uid), undefined, { uid: true });
      if (again.content) {
        const kept = await keepRawMail(rawDir, again.content, this.options.maxMailBytes);
        rawCopy = { dir: rawDir, path: kept.path, truncated: kept.truncated };
      }
      const result = await intake.recordUnparsed(mailbox, position, {
        ...known,
        status: 'unreadable',
        reason: sanitizeServerText(error.message, scrubber),
        rawSha256: error.rawSha256 ?? envelopeFingerprint,
        rawCopy,
      });
      if (result.status === 'duplicate') rmSync(rawDir, { recursive: true, force: true });
      return result;
    } catch (failure) {
      rmSync(rawDir, { recursive: true, force: true });
      throw new MailNotReadError(position.uid, describeImapError(failure, scrubber));
    }
  }
}
