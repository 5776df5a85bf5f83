/**
 * Where a mailbox starts when it has no usable watermark: a new mailbox, a lost DATA_DIR, a new
 * host, an address edited in the directory, a mailbox removed and added again. Mail is never
 * replayed from long ago: the start is the directory row's creation time only when that is recent
 * (IMAP_FIRST_SYNC_LOOKBACK_HOURS), otherwise now.
 */
import type { MailboxEntry } from '../directory/directory.js';

/** Slack for the clocks of the IMAP server and the directory disagreeing. */
const CLOCK_SKEW_MS = 60_000;

/**
 * The arrival time from which mail is forwarded, or null for "from now" (only mail that arrives
 * after the first connect). `addedAt` is the directory row's creation time.
 */
export function firstSyncCutoff(addedAt: string, now: number, lookbackMs: number): Date | null {
  const added = Date.parse(addedAt);
  if (!Number.isFinite(added) || now - added > lookbackMs) return null;
  return new Date(added - CLOCK_SKEW_MS);
}

/** How far before the newest recorded mail a rescan after a UIDVALIDITY change starts. */
const RESCAN_OVERLAP_MS = 24 * 3600_000;
/** Margin between the rescan start and the reports REPORT_RETENTION_DAYS forgets (clocks, time zones). */
const RETENTION_MARGIN_MS = 24 * 3600_000;

/**
 * Where the rescan after a UIDVALIDITY change starts: a day before the newest mail still recorded
 * (`newest`, its arrival time), so that mail already recorded is found again and recognised by its
 * fingerprint. But never earlier than a day inside the retention time: a report older than that may
 * have been forgotten already, and a mail whose report is forgotten would be recorded and sent again.
 */
export function rescanCutoff(newest: string, now: number, retentionMs: number): Date {
  const dayBeforeNewest = Date.parse(newest) - RESCAN_OVERLAP_MS;
  const oldestSurelyKept = now - retentionMs + RETENTION_MARGIN_MS;
  return new Date(Math.max(dayBeforeNewest, oldestSurelyKept));
}

/**
 * Which directory row a watermark was made for: its key and creation time. A mailbox removed and
 * added again is a new row (a new key in SeaTable; a new creation time in the local directory, whose
 * row ids may be reused), so the old watermark no longer applies and the mailbox starts afresh.
 */
export function mailboxIdentity(mailbox: Pick<MailboxEntry, 'key' | 'addedAt'>): string {
  return `${mailbox.key}@${mailbox.addedAt}`;
}
