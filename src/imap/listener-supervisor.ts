/**
 * Keeps one MailboxListener per active mailbox of the directory: starts listeners for new mailboxes,
 * restarts those whose connection settings changed, and stops those removed or deactivated, while
 * the others keep running untouched.
 */
import { isWebhookOnly, type MailboxEntry } from '../directory/directory.js';
import type { Logger } from '../observability/logger.js';
import type { ListenerStatus, MailboxListener } from './mailbox-listener.js';

export type ListenerFactory = (mailbox: MailboxEntry) => MailboxListener;

/** The settings whose change needs a new connection. */
function connectionSettings(mailbox: MailboxEntry): string {
  return JSON.stringify([
    mailbox.host,
    mailbox.port,
    mailbox.tls,
    mailbox.login,
    mailbox.password,
    mailbox.oauth2 ?? null,
    mailbox.folder,
    mailbox.allowFrom,
    mailbox.mediaMode,
    mailbox.markSeen,
  ]);
}

export class ListenerSupervisor {
  private readonly listeners = new Map<string, { listener: MailboxListener; settings: string }>();
  private applying: Promise<void> = Promise.resolve();

  constructor(
    private readonly createListener: ListenerFactory,
    private readonly logger: Logger,
  ) {}

  /** Brings the running listeners in line with `mailboxes`. Calls are serialised. */
  apply(mailboxes: MailboxEntry[]): Promise<void> {
    this.applying = this.applying.then(() => this.reconcile(mailboxes));
    return this.applying;
  }

  private async reconcile(mailboxes: MailboxEntry[]): Promise<void> {
    // a webhook-only mailbox has no IMAP server to listen to
    const wanted = new Map(
      mailboxes
        .filter((mailbox) => mailbox.active && !isWebhookOnly(mailbox))
        .map((mailbox) => [mailbox.email, mailbox]),
    );
    const stopping: Promise<void>[] = [];
    for (const [email, running] of this.listeners) {
      const next = wanted.get(email);
      if (next && connectionSettings(next) === running.settings) continue;
      this.listeners.delete(email);
      this.logger.info(
        { mailbox: email },
        next
          ? 'mailbox settings changed: restarting its listener'
          : 'mailbox removed or deactivated: stopping its listener',
      );
      stopping.push(running.listener.stop());
    }
    await Promise.all(stopping);
    for (const [email, mailbox] of wanted) {
      if (this.listeners.has(email)) continue;
      if (mailbox.allowFrom.length === 0) {
        this.logger.warn(
          { mailbox: email },
          'this mailbox has no allowed senders: mail from anyone will be forwarded (set allowed senders to restrict it)',
        );
      }
      const listener = this.createListener(mailbox);
      this.listeners.set(email, { listener, settings: connectionSettings(mailbox) });
      listener.start();
    }
  }

  statuses(): ListenerStatus[] {
    return [...this.listeners.values()].map(({ listener }) => listener.status());
  }

  listener(email: string): MailboxListener | undefined {
    return this.listeners.get(email.toLowerCase())?.listener;
  }

  async stop(): Promise<void> {
    await this.applying;
    const all = [...this.listeners.values()];
    this.listeners.clear();
    await Promise.all(all.map(({ listener }) => listener.stop()));
  }
}
