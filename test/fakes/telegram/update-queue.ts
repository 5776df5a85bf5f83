/**
 * The bot's update queue and `getUpdates` long polling, per the Bot API and
 * `Client::process_get_updates_query`: update ids start at 1; an `offset` confirms every lower id;
 * a negative offset keeps only the last |offset| updates; `limit` 1–100; `timeout` holds the request
 * until an update arrives; a newer poll terminates a held one with 409; `allowed_updates` is
 * remembered and filters what is delivered (an empty list means all types except `chat_member`,
 * `message_reaction` and `message_reaction_count`).
 */
import type { Update } from 'grammy/types';
import { BotApiError, Descriptions } from './bot-api-error.js';
import { type UpdateWithoutId, updateType } from './update-builders.js';

/** Update types not delivered unless asked for explicitly. */
const OPT_IN_UPDATE_TYPES = new Set(['chat_member', 'message_reaction', 'message_reaction_count']);

/** The parameters of one getUpdates call, already coerced. */
export interface PollRequest {
  offset?: unknown;
  limit?: unknown;
  timeout?: unknown;
  allowed_updates?: unknown;
}

interface HeldPoll {
  limit: number;
  timer: NodeJS.Timeout;
  answer: (result: Update[] | BotApiError) => void;
}

export class UpdateQueue {
  private nextUpdateId = 1;
  private pending: Update[] = [];
  private allowedUpdates: string[] = [];
  private held: HeldPoll | undefined;
  /** Set by setWebhook: getUpdates then fails with 409. */
  webhookUrl = '';

  constructor(
    private readonly maxTimeoutSeconds: number,
    /** Called whenever updates are added or confirmed (wakes test waiters). */
    private readonly onChange: () => void,
  ) {}

  /** The `allowed_updates` setting in effect (empty = default set). */
  get allowed(): readonly string[] {
    return this.allowedUpdates;
  }

  /** True while a getUpdates request is held open waiting for updates. */
  get isHoldingPoll(): boolean {
    return this.held !== undefined;
  }

  /** Updates delivered or waiting, not yet confirmed by an offset. */
  unconfirmed(): readonly Update[] {
    return this.pending;
  }

  /** Adds an update with the next `update_id` and answers a held poll. */
  push(update: UpdateWithoutId): Update {
    const full = { update_id: this.nextUpdateId++, ...update } as Update;
    this.pending.push(full);
    this.wakeHeldPoll();
    this.onChange();
    return full;
  }

  /** True once the update was confirmed (or dropped by `allowed_updates`). */
  isConfirmed(updateId: number): boolean {
    return updateId < this.nextUpdateId && !this.pending.some((update) => update.update_id === updateId);
  }

  /** Forgets all pending updates (`deleteWebhook`/`setWebhook` with `drop_pending_updates`). */
  dropPending(): void {
    this.pending = [];
    this.onChange();
  }

  /** Sets `allowed_updates` as setWebhook does. */
  setAllowedUpdates(value: unknown): void {
    if (Array.isArray(value)) this.allowedUpdates = value.filter((item) => typeof item === 'string');
  }

  /**
   * Serves one getUpdates call. Resolves with the updates to return (possibly after holding the
   * request); rejects with a BotApiError for 409s. `registerCancel` receives a function the server
   * calls when the client goes away while the request is held.
   */
  poll(request: PollRequest, registerCancel: (cancel: () => void) => void): Promise<Update[]> {
    if (this.webhookUrl !== '') {
      return Promise.reject(new BotApiError(409, Descriptions.webhookActiveConflict));
    }
    const offset = clampInteger(request.offset, 0, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
    const limit = clampInteger(request.limit, 100, 1, 100);
    const timeout = clampInteger(request.timeout, 0, 0, this.maxTimeoutSeconds);
    this.setAllowedUpdates(request.allowed_updates);

    const previous = this.held;
    if (previous !== undefined) {
      this.held = undefined;
      clearTimeout(previous.timer);
      previous.answer(new BotApiError(409, Descriptions.getUpdatesConflict));
    }

    this.confirm(offset);
    this.dropDisallowed();
    const available = this.pending.slice(0, limit);
    if (available.length > 0 || timeout === 0) return Promise.resolve(available);

    return new Promise<Update[]>((resolve, reject) => {
      const poll: HeldPoll = {
        limit,
        timer: setTimeout(() => {
          if (this.held === poll) this.held = undefined;
          resolve([]);
        }, timeout * 1000),
        answer: (result) => (result instanceof BotApiError ? reject(result) : resolve(result)),
      };
      this.held = poll;
      registerCancel(() => {
        if (this.held !== poll) return;
        clearTimeout(poll.timer);
        this.held = undefined;
        resolve([]); // nobody reads it: the client is gone; this only ends the request handling
      });
      this.onChange();
    });
  }

  /** Answers a held poll with an empty list (server shutdown). */
  releaseHeldPoll(): void {
    const poll = this.held;
    if (poll === undefined) return;
    this.held = undefined;
    clearTimeout(poll.timer);
    poll.answer([]);
  }

  private confirm(offset: number): void {
    const before = this.pending.length;
    if (offset > 0) {
      this.pending = this.pending.filter((update) => update.update_id >= offset);
    } else if (offset < 0) {
      // "updates starting from -offset update from the end of the updates queue; all previous
      // updates will be forgotten"
      this.pending = this.pending.slice(Math.max(0, this.pending.length + offset));
    }
    if (this.pending.length !== before) this.onChange();
  }

  private dropDisallowed(): void {
    const before = this.pending.length;
    this.pending = this.pending.filter((update) => this.isAllowed(update));
    if (this.pending.length !== before) this.onChange();
  }

  private isAllowed(update: Update): boolean {
    const type = updateType(update);
    if (this.allowedUpdates.length === 0) return !OPT_IN_UPDATE_TYPES.has(type);
    return this.allowedUpdates.includes(type);
  }

  private wakeHeldPoll(): void {
    const poll = this.held;
    if (poll === undefined) return;
    this.dropDisallowed();
    if (this.pending.length === 0) return;
    this.held = undefined;
    clearTimeout(poll.timer);
    poll.answer(this.pending.slice(0, poll.limit));
  }
}

/** TDLib `get_integer_arg`: missing/unparsable → default, then clamped to [min, max]. */
function clampInteger(value: unknown, fallback: number, min: number, max: number): number {
  const number = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : Number.NaN;
  if (!Number.isFinite(number)) return fallback;
  return Math.min(max, Math.max(min, Math.trunc(number)));
}
