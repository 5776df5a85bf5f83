/**
 * Tells the admin chat about mailboxes in trouble: one down (not connected, or connected but unable
 * to complete a catch-up: folder missing, FETCH refused, disk full) for longer than a threshold, and logins the server keeps refusing. Each problem is raised once and cleared with a
 * "recovered" message when the mailbox is connected again.
 */
import type { AdminAlerts } from '../observability/admin-alerts.js';
import type { ListenerStatus } from './mailbox-listener.js';

export interface MailboxHealthWatchOptions {
  statuses: () => ListenerStatus[];
  alerts: AdminAlerts;
  /** A mailbox not connected for this long is reported, ms. */
  downAfterMs: number;
  /** Refused logins in a row before they are reported. */
  loginFailuresBeforeAlert?: number;
  /** How often statuses are looked at, ms (default 15 s). */
  intervalMs?: number;
  now?: () => number;
}

export class MailboxHealthWatch {
  private timer: NodeJS.Timeout | null = null;
  private readonly raised = new Map<string, Set<'down' | 'login' | 'token'>>();
  private readonly firstSeen = new Map<string, number>();

  constructor(private readonly options: MailboxHealthWatchOptions) {}

  start(): void {
    this.timer = setInterval(() => this.check(), this.options.intervalMs ?? 15_000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Looks at every listener once (the timer calls this; tests may too). */
  check(): void {
    const now = (this.options.now ?? Date.now)();
    const seen = new Set<string>();
    for (const status of this.options.statuses()) {
      seen.add(status.mailbox);
      if (!this.firstSeen.has(status.mailbox)) this.firstSeen.set(status.mailbox, now);
      const raised = this.raised.get(status.mailbox) ?? new Set();
      this.raised.set(status.mailbox, raised);
      if (status.state === 'connected') {
        if (raised.delete('down')) {
          this.options.alerts.clear(
            `mailbox-down:${status.mailbox}`,
            `Mailbox ${status.mailbox} is connected again.`,
          );
        }
        if (raised.delete('login')) {
          this.options.alerts.clear(
            `mailbox-login:${status.mailbox}`,
            `Mailbox ${status.mailbox}: the login works again.`,
          );
        }
        if (raised.delete('token')) {
          this.options.alerts.clear(
            `mailbox-token:${status.mailbox}`,
            `Mailbox ${status.mailbox}: the OAuth2 token endpoint gives access tokens again.`,
          );
        }
        continue;
      }
      if (status.tokenRefused && !raised.has('token')) {
        // a refused grant does not heal by waiting: say so at once (the listener keeps retrying slowly)
        raised.add('token');
        this.options.alerts.raise(
          `mailbox-token:${status.mailbox}`,
          `Mailbox ${status.mailbox}: the OAuth2 token endpoint refused to give an access token (${status.lastError ?? 'no detail'}). Check the mailbox's client secret, refresh token and the app's permissions; the bot retries with backoff, other mailboxes are not affected.`,
        );
      }
      if (
        status.loginRejected &&
        status.failures >= (this.options.loginFailuresBeforeAlert ?? 3) &&
        !raised.has('login')
      ) {
        raised.add('login');
        this.options.alerts.raise(
          `mailbox-login:${status.mailbox}`,
          `Mailbox ${status.mailbox}: the IMAP server refused the login ${status.failures} times in a row (${status.lastError ?? 'no detail'}). Check its login and password.`,
        );
      }
      const downSince = Date.parse(status.disconnectedAt ?? '') || this.firstSeen.get(status.mailbox)!;
      if (now - downSince >= this.options.downAfterMs && !raised.has('down')) {
        raised.add('down');
        const minutes = Math.round((now - downSince) / 60_000);
        this.options.alerts.raise(
          `mailbox-down:${status.mailbox}`,
          `Mailbox ${status.mailbox} has not been connected and caught up for ${minutes} min: ${status.lastError ?? 'no detail'}. Reports sent to it wait on the server (nothing is skipped) and are caught up once it works again.`,
        );
      }
    }
    for (const mailbox of [...this.raised.keys()]) {
      if (seen.has(mailbox)) continue;
      // the mailbox was removed from the directory: its problems are moot
      this.raised.delete(mailbox);
      this.firstSeen.delete(mailbox);
    }
  }
}
