/** The list of mailboxes a subscriber or a group receives reports from, as shown in chat messages. */

/** A mailbox as the bot shows it to a subscriber: its address, and whether it is being read. */
export interface ListedMailbox {
  /** The mailbox address (never a login or a password). */
  email: string;
  /** False when the mailbox is switched off in the directory: nothing arrives from it for now. */
  active: boolean;
}

/** Words the list needs in one language. */
export interface MailboxListWords {
  /** Appended to a mailbox that is switched off, e.g. "paused". */
  paused: string;
  /** The line that stands for the mailboxes left out of a long list. */
  more(count: number): string;
}

/** Most mailboxes listed one per line; the rest are counted, so a message stays far below 4096 characters. */
export const MAILBOX_LIST_LIMIT = 30;

/** One mailbox per line, `• address` (with the paused mark where it applies). */
export function formatMailboxList(mailboxes: readonly ListedMailbox[], words: MailboxListWords): string {
  const shown = mailboxes
    .slice(0, MAILBOX_LIST_LIMIT)
    .map((mailbox) => `• ${mailbox.email}${mailbox.active ? '' : ` (${words.paused})`}`);
  if (mailboxes.length > MAILBOX_LIST_LIMIT) shown.push(words.more(mailboxes.length - MAILBOX_LIST_LIMIT));
  return shown.join('\n');
}
