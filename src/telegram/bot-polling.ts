/**
 * Receives updates from Telegram by long polling (grammY's built-in loop), for registration and the
 * chat commands. Telegram being unreachable at start does not stop the bot: polling keeps retrying
 * in the background while mail intake and the outbox go on. A token Telegram refuses (401) is fatal.
 */
import { autoRetry } from '@grammyjs/auto-retry';
import { type ApiClientOptions, Bot, type Composer, type Context, GrammyError } from 'grammy';
import type { Logger } from '../observability/logger.js';
import type { SecretScrubber } from '../observability/secret-scrubber.js';
import { describeProxyError } from './telegram-proxy.js';

/** The update types the bot handles (sent explicitly: Telegram remembers the last list otherwise). */
export const ALLOWED_UPDATES = ['message', 'my_chat_member', 'callback_query'] as const;

export interface BotPollingOptions {
  token: string;
  apiRoot: string;
  /** grammY's fetch options: the TELEGRAM_PROXY agent (telegram-proxy.ts). */
  baseFetchConfig?: ApiClientOptions['baseFetchConfig'];
  logger: Logger;
  scrubber: SecretScrubber;
  /** Handlers for updates. */
  handlers?: Composer<Context>;
  /** Called once the bot knows who it is (after getMe), before polling. */
  onReady?: (bot: Bot) => Promise<void>;
}

export class BotPolling {
  readonly bot: Bot;
  private polling = false;
  private stopped = false;
  private readonly abort = new AbortController();
  private loop: Promise<void> | null = null;
  private readonly log: Logger;

  constructor(private readonly options: BotPollingOptions) {
    this.log = options.logger.child({ component: 'telegram' });
    this.bot = new Bot(options.token, {
      client: {
        apiRoot: options.apiRoot,
        timeoutSeconds: 60,
        ...(options.baseFetchConfig ? { baseFetchConfig: options.baseFetchConfig } : {}),
      },
    });
    // replies to people are retried on 429 and server errors, but never for long: a stuck reply must
    // not hold up the update loop
    this.bot.api.config.use(autoRetry({ maxRetryAttempts: 3, maxDelaySeconds: 30, rethrowHttpErrors: true }));
    if (options.handlers) this.bot.use(options.handlers);
    this.bot.catch((error) => {
      this.log.error(
        { err: options.scrubber.describe(error.error), updateId: error.ctx.update.update_id },
        'error while handling an update',
      );
    });
  }

  /** Whether the bot is currently receiving updates. */
  get isPolling(): boolean {
    return this.polling;
  }

  /**
   * Checks the token with getMe (rejects when Telegram refuses it), then polls in the background,
   * reconnecting after errors.
   */
  async start(): Promise<void> {
    await this.init();
  }

  /** getMe with a time limit (grammY's own init retries network errors for ever). */
  private async identify(): Promise<void> {
    // grammY types its signal parameter with the abort-controller polyfill; Node's is the same at run time
    this.bot.botInfo = await this.bot.api.getMe(
      AbortSignal.timeout(15_000) as Parameters<typeof this.bot.api.getMe>[0],
    );
    this.log.info({ username: this.bot.botInfo.username }, 'connected to Telegram');
  }

  private async init(): Promise<void> {
    try {
      await this.identify();
    } catch (error) {
      if (error instanceof GrammyError && (error.error_code === 401 || error.error_code === 404)) {
        throw new Error(
          'Telegram refused TELEGRAM_BOT_TOKEN (401 Unauthorized): check the token from @BotFather',
        );
      }
      this.log.warn({ err: this.describeError(error) }, 'Telegram is unreachable; will keep trying');
      this.loop = this.retryInitInBackground();
      return;
    }
    this.loop = this.pollForever();
  }

  /** An error of a Bot API call, for the log: the proxy's failure when TELEGRAM_PROXY caused it. */
  private describeError(error: unknown): string {
    return this.options.scrubber.scrub(describeProxyError(error) ?? this.options.scrubber.describe(error));
  }

  private async retryInitInBackground(): Promise<void> {
    for (let delay = 2000; !this.stopped; delay = Math.min(delay * 2, 60_000)) {
      await this.pause(delay);
      if (this.stopped) return;
      try {
        await this.identify();
      } catch (error) {
        this.log.warn({ err: this.describeError(error) }, 'Telegram is still unreachable');
        continue;
      }
      await this.pollForever();
      return;
    }
  }

  private async pollForever(): Promise<void> {
    if (this.options.onReady) {
      try {
        await this.options.onReady(this.bot);
      } catch (error) {
        this.log.warn(
          { err: this.options.scrubber.describe(error) },
          'Telegram set-up call failed (will not retry)',
        );
      }
    }
    for (let delay = 1000; !this.stopped; delay = Math.min(delay * 2, 60_000)) {
      try {
        await this.bot.start({
          allowed_updates: [...ALLOWED_UPDATES],
          onStart: () => {
            this.polling = true;
            delay = 1000;
          },
        });
      } catch (error) {
        this.polling = false;
        if (this.stopped) return;
        this.log.warn(
          { err: this.describeError(error), retryInMs: delay },
          'polling stopped with an error; restarting',
        );
        await this.pause(delay);
      }
    }
  }

  /** Waits, but not past stop(). */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const onAbort = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.abort.signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      this.abort.signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    this.polling = false;
    if (this.bot.isRunning()) await this.bot.stop().catch(() => undefined);
    await this.loop?.catch(() => undefined);
  }
}
