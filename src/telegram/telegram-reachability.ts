/**
 * Whether the Bot API as a whole answers. A send that fails with a network error, a 5xx or a 401 may
 * be the delivery's own trouble or Telegram's (or the path to it): a cheap getMe tells them apart. When
 * Telegram as a whole fails, all sending pauses; getMe is probed with capped backoff, and sending
 * resumes when it answers. The outage is over when a send goes through again. The admin chat hears
 * "unreachable since …" once per outage and "reachable again" once.
 *
 * While paused nothing is sent, and failures of sends that were in flight when the outage began do
 * not count against their deliveries.
 */
import type { AdminAlerts } from '../observability/admin-alerts.js';
import type { Logger } from '../observability/logger.js';

/** `up`: sending; `down`: paused, probing; `resuming`: getMe answered, the next send confirms. */
export type ReachabilityState = 'up' | 'down' | 'resuming';

export interface TelegramReachabilityOptions {
  /** A cheap Bot API call (getMe) that resolves when Telegram answers and rejects otherwise. */
  probe: () => Promise<void>;
  /** Describes a probe error for logs and the admin chat, without secrets. */
  describe: (error: unknown) => string;
  alerts: AdminAlerts;
  logger: Logger;
  /** Sending may go on (getMe answered after an outage). */
  onResume: () => void;
  /** First wait before probing after an outage began, ms (default 2 s). */
  probeMinMs?: number;
  /** Longest wait between two probes, ms (default 60 s, the cap). */
  probeMaxMs?: number;
  /**
   * Failures of this kind on this many different chats in a row, with no success between, pause
   * sending even when getMe answers: the send path fails as a whole (default 3).
   */
  streakChats?: number;
  now?: () => number;
}

/** The key of the admin alert for an outage. */
export const UNREACHABLE_ALERT = 'telegram-unreachable';

export class TelegramReachability {
  private current: ReachabilityState = 'up';
  private downSince: number | null = null;
  private readonly streak = new Set<number>();
  private probeDelayMs: number;
  private probeTimer: NodeJS.Timeout | null = null;
  private checking: Promise<boolean> | null = null;
  private stopped = false;
  private probes = 0;
  private readonly now: () => number;
  private readonly log: Logger;

  constructor(private readonly options: TelegramReachabilityOptions) {
    this.now = options.now ?? Date.now;
    this.probeDelayMs = options.probeMinMs ?? 2000;
    this.log = options.logger.child({ component: 'telegram-reachability' });
  }

  get state(): ReachabilityState {
    return this.current;
  }

  /** Nothing may be sent now. */
  get paused(): boolean {
    return this.current === 'down';
  }

  /** getMe calls made to tell an outage from a delivery's own failure or to end one (for tests and logs). */
  get probeCount(): number {
    return this.probes;
  }

  /** A send went through: Telegram answers. Ends an outage. */
  noteSuccess(): void {
    this.streak.clear();
    if (this.current === 'up') return;
    const since = this.downSince ?? this.now();
    this.current = 'up';
    this.downSince = null;
    this.probeDelayMs = this.options.probeMinMs ?? 2000;
    this.clearProbe();
    const minutes = Math.round((this.now() - since) / 6000) / 10;
    this.log.info({ downForMs: this.now() - since }, 'Telegram is reachable again; sending resumed');
    this.options.alerts.clear(
      UNREACHABLE_ALERT,
      `Telegram is reachable again (unreachable since ${new Date(since).toISOString()}, ${minutes} min); queued reports are being sent.`,
    );
  }

  /**
   * A send failed with a network error, a 5xx or a 401. Resolves `true` when Telegram as a whole is
   * failing (sending is paused, and the attempt must not count against the delivery), `false` when
   * the failure is the delivery's own (getMe answers and the streak is short). With `probeOnly` (an
   * answer that was not the Bot API's, such as a proxy's HTML page) getMe alone decides: such pages
   * for too-large uploads on several chats must not pause sending for good.
   */
  async noteFailure(chatId: number, reason: string, options: { probeOnly?: boolean } = {}): Promise<boolean> {
    if (this.stopped) return true;
    // in flight when the outage began: it says nothing new
    if (this.current === 'down') return true;
    if (!options.probeOnly) this.streak.add(chatId);
    const answers = await this.check();
    if (this.paused) return true;
    if (!answers || (!options.probeOnly && this.streak.size >= (this.options.streakChats ?? 3))) {
      this.goDown(reason);
      return true;
    }
    return false;
  }

  /** Sending was resumed and there is nothing to send: getMe answering is proof enough. */
  noteIdle(): void {
    if (this.current === 'resuming') this.noteSuccess();
  }

  stop(): void {
    this.stopped = true;
    this.clearProbe();
  }

  /** One getMe now, shared by every failure that asks meanwhile. */
  private check(): Promise<boolean> {
    if (!this.checking) {
      this.probes++;
      this.checking = this.options
        .probe()
        .then(
          () => true,
          (error: unknown) => {
            this.log.warn({ err: this.options.describe(error) }, 'getMe failed too');
            return false;
          },
        )
        .finally(() => {
          this.checking = null;
        });
    }
    return this.checking;
  }

  private goDown(reason: string): void {
    if (this.current === 'up') {
      this.downSince = this.now();
      this.log.warn({ reason }, 'Telegram is unreachable: sending paused, probing with getMe');
      const hint = outageHint(reason);
      this.options.alerts.raise(
        UNREACHABLE_ALERT,
        `Telegram unreachable since ${new Date(this.downSince).toISOString()} (${reason}). Sending is paused and resumes by itself; nothing is lost.${hint}`,
      );
    }
    this.current = 'down';
    this.scheduleProbe();
  }

  private scheduleProbe(): void {
    if (this.stopped || this.probeTimer) return;
    const delay = this.probeDelayMs;
    this.probeDelayMs = Math.min(this.probeDelayMs * 2, this.options.probeMaxMs ?? 60_000);
    this.probeTimer = setTimeout(() => {
      this.probeTimer = null;
      void this.check().then((answers) => {
        if (this.stopped || this.current !== 'down') return;
        if (!answers) {
          this.scheduleProbe();
          return;
        }
        this.log.info('getMe answers: resuming sending');
        this.current = 'resuming';
        this.options.onResume();
      });
    }, delay);
    this.probeTimer.unref();
  }

  private clearProbe(): void {
    if (this.probeTimer) clearTimeout(this.probeTimer);
    this.probeTimer = null;
  }
}

/** What the admin can do about an outage, when its reason says (a refused token, the proxy). */
function outageHint(reason: string): string {
  // 401 is Telegram refusing the token (revoked in @BotFather): waiting will not fix that
  if (/^401\b/.test(reason)) return ' Telegram refuses the bot token: check TELEGRAM_BOT_TOKEN.';
  // the proxy's words come from telegram-proxy.ts
  if (/proxy authentication failed/.test(reason))
    return ' The proxy is the cause: it refuses the user and password in TELEGRAM_PROXY (fix them and restart the bot).';
  if (/Telegram not reachable through the proxy/.test(reason))
    return ' The proxy is the cause: it is up but cannot reach Telegram.';
  if (/the proxy is not reachable/.test(reason))
    return ' The proxy is the cause: it does not answer (is TELEGRAM_PROXY running?).';
  return '';
}
