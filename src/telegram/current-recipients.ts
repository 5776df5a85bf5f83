/**
 * The directory of now decides every send: a queued delivery goes out only while its chat is still an
 * active recipient of the report's mailbox (the rule of core/recipients.ts, the same as at intake).
 * A user removed, paused, unsubscribed or given another Telegram ID since the report arrived gets
 * nothing more. The recipients of a mailbox are worked out once per directory copy (a new snapshot
 * object, or an onChange call), so the check costs a map lookup per message; a refusal is confirmed
 * against the copy of that moment before a delivery is cancelled.
 */
import type { MediaMode } from '../core/message-plan.js';
import { type Recipient, recipientsFor } from '../core/recipients.js';
import type { Directory, DirectorySnapshot } from '../directory/directory.js';
import type { Delivery } from '../store/outbox-store.js';

export class CurrentRecipients {
  private snapshot: DirectorySnapshot | null = null;
  private readonly byMailbox = new Map<string, Map<number, Recipient>>();
  /** The paused mailboxes (lower case) of the directory copy `pausedOf`. */
  private paused: Set<string> | null = null;
  private pausedOf: DirectorySnapshot | null = null;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly directory: Directory,
    private readonly defaultMediaMode: MediaMode,
  ) {
    // a directory may also change its copy in place: forget what was worked out from it
    this.unsubscribe = directory.onChange(() => {
      this.byMailbox.clear();
    });
  }

  /**
   * Whether `mailbox` is paused in the current directory. Its deliveries wait meanwhile and go when it
   * is resumed (as its mail waits on the IMAP server): a report POSTed to its webhook URL while paused.
   */
  mailboxPaused(mailbox: string): boolean {
    const snapshot = this.directory.snapshot();
    if (snapshot !== this.pausedOf || this.paused === null) {
      this.pausedOf = snapshot;
      this.paused = new Set(
        snapshot.mailboxes.filter((entry) => !entry.active).map((entry) => entry.email.toLowerCase()),
      );
    }
    return this.paused.has(mailbox.toLowerCase());
  }

  /** The recipients of `mailbox` in the current directory, by chat id. */
  of(mailbox: string): Map<number, Recipient> {
    const snapshot = this.directory.snapshot();
    if (snapshot !== this.snapshot) {
      this.snapshot = snapshot;
      this.byMailbox.clear();
    }
    const email = mailbox.toLowerCase();
    let recipients = this.byMailbox.get(email);
    if (!recipients) {
      recipients = new Map(
        recipientsFor({ email, mediaMode: null }, snapshot, this.defaultMediaMode).map((recipient) => [
          recipient.chatId,
          recipient,
        ]),
      );
      this.byMailbox.set(email, recipients);
    }
    return recipients;
  }

  /**
   * Why `delivery` may not go to its chat now, or null when it may. `migratedFrom` names the chat a
   * group had before it became a supergroup: the directory may still hold the old id for a while
   * (its write is queued or failed), and the group's reports follow it meanwhile.
   */
  refusal(
    delivery: Pick<Delivery, 'chatId' | 'recipientKind' | 'recipientKey'>,
    mailbox: string,
    migratedFrom?: (chatId: number) => number | undefined,
  ): string | null {
    if (delivery.recipientKind === 'admin') return null;
    if (this.of(mailbox).has(delivery.chatId)) return null;
    // never cancel on a stale working-out (a copy changed in place without notice): look again afresh
    this.byMailbox.delete(mailbox.toLowerCase());
    const recipients = this.of(mailbox);
    if (recipients.has(delivery.chatId)) return null;
    for (let chatId = migratedFrom?.(delivery.chatId), hops = 0; chatId !== undefined && hops < 10; hops++) {
      if (recipients.get(chatId)?.kind === 'group') return null;
      chatId = migratedFrom?.(chatId);
    }
    return this.describeChange(delivery, mailbox.toLowerCase());
  }

  stop(): void {
    this.unsubscribe();
  }

  private describeChange(
    delivery: Pick<Delivery, 'chatId' | 'recipientKind' | 'recipientKey'>,
    email: string,
  ): string {
    const snapshot = this.directory.snapshot();
    const what = delivery.recipientKind === 'group' ? 'group' : 'user';
    const entry =
      delivery.recipientKind === 'group'
        ? snapshot.groups.find((group) => group.key === delivery.recipientKey)
        : snapshot.users.find((user) => user.key === delivery.recipientKey);
    const prefix = 'cancelled: the directory no longer sends this report here';
    if (!entry) return `${prefix} (the ${what} was removed)`;
    if (entry.pausedByAdmin) return `${prefix} (the ${what} is inactive: paused by the admin)`;
    if (entry.chatGone)
      return `${prefix} (the ${what} is inactive: its chat is gone, ${entry.chatGone.reason})`;
    if (!entry.active) return `${prefix} (the ${what} is inactive)`;
    if (entry.telegramId !== delivery.chatId) return `${prefix} (the ${what}'s Telegram ID changed)`;
    if (!entry.mailboxes.includes(email)) return `${prefix} (the ${what} is not subscribed to ${email})`;
    return `${prefix} (not a recipient of ${email})`;
  }
}
