/**
 * Scripted and random failures for the fake Bot API server: error answers (429, 5xx, 403/400 for a
 * chat), dropped connections (before or after the message was delivered), slow answers and the
 * nginx 413 and 502/503/504 pages. Faults are matched against each call by method and chat id.
 */
import type { ResponseParameters } from 'grammy/types';

/** One failure the server injects into a call. */
export type Fault =
  /** Answer with this Bot API JSON error instead of executing the call. Nothing is delivered. */
  | { kind: 'error'; errorCode: number; description: string; parameters?: ResponseParameters }
  /** Read the request, then destroy the socket without answering. Nothing is delivered. */
  | { kind: 'dropConnection' }
  /** Execute the call (the message IS delivered), then destroy the socket instead of answering. */
  | { kind: 'dropAfterDelivery' }
  /** Wait `ms` before handling the call; combines with a following fault (see {@link FaultPlan}). */
  | { kind: 'delay'; ms: number }
  /** Answer `413 Request Entity Too Large` with nginx's HTML page (grammY: HttpError). */
  | { kind: 'entityTooLarge' }
  /** Answer with nginx's HTML page for a failing upstream (502/503/504; grammY: HttpError). Nothing is delivered. */
  | { kind: 'gatewayPage'; status: 502 | 503 | 504 };

/** Factories for the usual faults, with the real server's wording. */
export const faults = {
  /** `429 Too Many Requests: retry after N` with `parameters.retry_after = N`. */
  tooManyRequests(retryAfterSeconds: number): Fault {
    return {
      kind: 'error',
      errorCode: 429,
      description: `Too Many Requests: retry after ${retryAfterSeconds}`,
      parameters: { retry_after: retryAfterSeconds },
    };
  },
  /** `500 Internal Server Error`. */
  internalServerError(): Fault {
    return { kind: 'error', errorCode: 500, description: 'Internal Server Error' };
  },
  /** `502 Bad Gateway`. */
  badGateway(): Fault {
    return { kind: 'error', errorCode: 502, description: 'Bad Gateway' };
  },
  /** `403 Forbidden: <what>`, e.g. `bot was blocked by the user`. */
  forbidden(what: string): Fault {
    return { kind: 'error', errorCode: 403, description: `Forbidden: ${what}` };
  },
  /** `400 Bad Request: <what>` with optional `parameters`. */
  badRequest(what: string, parameters?: ResponseParameters): Fault {
    return {
      kind: 'error',
      errorCode: 400,
      description: `Bad Request: ${what}`,
      ...(parameters === undefined ? {} : { parameters }),
    };
  },
  /** `400 Bad Request: group chat was upgraded to a supergroup chat` with `migrate_to_chat_id`. */
  migrated(toChatId: number): Fault {
    return faults.badRequest('group chat was upgraded to a supergroup chat', {
      migrate_to_chat_id: toChatId,
    });
  },
  /** Any JSON error. */
  error(errorCode: number, description: string, parameters?: ResponseParameters): Fault {
    return { kind: 'error', errorCode, description, ...(parameters === undefined ? {} : { parameters }) };
  },
  /** Destroy the connection without answering; nothing is delivered. */
  dropConnection(): Fault {
    return { kind: 'dropConnection' };
  },
  /** Deliver the message, then destroy the connection ("sent, but the bot never heard"). */
  dropAfterDelivery(): Fault {
    return { kind: 'dropAfterDelivery' };
  },
  /** Answer `ms` milliseconds late. */
  delay(ms: number): Fault {
    return { kind: 'delay', ms };
  },
  /** nginx's HTML `413 Request Entity Too Large` page. */
  entityTooLarge(): Fault {
    return { kind: 'entityTooLarge' };
  },
  /** nginx's HTML `502 Bad Gateway` page (or 503/504), as a reverse proxy serves when Telegram fails behind it. */
  gatewayPage(status: 502 | 503 | 504 = 502): Fault {
    return { kind: 'gatewayPage', status };
  },
};

/** Which calls a fault applies to. */
export interface FaultFilter {
  /**
   * Method name(s), case-insensitive. When omitted the fault matches every method EXCEPT
   * `getUpdates`, so a polling bot does not swallow faults meant for its sends; name `getUpdates`
   * to fault polling, or `'*'` for every method including getUpdates (a whole-server outage).
   */
  method?: string | string[];
  /** Only calls whose `chat_id` parameter equals this (number or `@username`). */
  chatId?: number | string;
}

interface ScriptedFault {
  remaining: number;
  fault: Fault;
  filter: FaultFilter;
}

interface RandomFaults {
  probability: number;
  faults: Fault[];
  random: () => number;
  filter: FaultFilter;
}

/** The faults scheduled on a server, consumed call by call. */
export class FaultPlan {
  private scripted: ScriptedFault[] = [];
  private randomFaults: RandomFaults | undefined;

  /** Applies `fault` to the next `count` matching calls (`Infinity` for every one). */
  failNext(count: number, fault: Fault, filter: FaultFilter = {}): void {
    if (!(count > 0)) throw new RangeError(`failNext count must be positive, got ${count}`);
    this.scripted.push({ remaining: count, fault, filter });
  }

  /**
   * From now on, fails each matching call with probability `probability`, picking one of `faults`
   * uniformly; reproducible for a given `seed`. A probability of 0 turns random faults off.
   */
  failRatio(probability: number, faultList: Fault[], seed: number, filter: FaultFilter = {}): void {
    if (probability < 0 || probability > 1)
      throw new RangeError(`probability must be in [0, 1], got ${probability}`);
    if (probability === 0 || faultList.length === 0) {
      this.randomFaults = undefined;
      return;
    }
    this.randomFaults = { probability, faults: [...faultList], random: mulberry32(seed), filter };
  }

  /** How many scripted faults are still to be taken (an `Infinity` one counts as such). */
  get scriptedLeft(): number {
    return this.scripted.reduce((sum, scheduled) => sum + scheduled.remaining, 0);
  }

  /** Removes every scheduled fault. */
  clear(): void {
    this.scripted = [];
    this.randomFaults = undefined;
  }

  /**
   * The faults to apply to a call, consumed from the plan in the order they were scheduled: any
   * number of delays, then at most one other fault. So `failNext(1, delay(500))` followed by
   * `failNext(1, badGateway())` makes the next call answer 502 after half a second.
   */
  take(method: string, chatId: unknown): Fault[] {
    const taken: Fault[] = [];
    for (const scheduled of this.scripted) {
      if (scheduled.remaining <= 0 || !matches(scheduled.filter, method, chatId)) continue;
      scheduled.remaining--;
      taken.push(scheduled.fault);
      if (scheduled.fault.kind !== 'delay') break;
    }
    this.scripted = this.scripted.filter((scheduled) => scheduled.remaining > 0);

    const terminal = taken.some((fault) => fault.kind !== 'delay');
    const random = this.randomFaults;
    if (!terminal && random !== undefined && matches(random.filter, method, chatId)) {
      if (random.random() < random.probability) {
        taken.push(random.faults[Math.floor(random.random() * random.faults.length)]!);
      }
    }
    return taken;
  }
}

function matches(filter: FaultFilter, method: string, chatId: unknown): boolean {
  const lowerMethod = method.toLowerCase();
  if (filter.method === '*') {
    // every method
  } else if (filter.method === undefined) {
    if (lowerMethod === 'getupdates') return false;
  } else {
    const methods = Array.isArray(filter.method) ? filter.method : [filter.method];
    if (!methods.some((candidate) => candidate.toLowerCase() === lowerMethod)) return false;
  }
  if (filter.chatId !== undefined && String(filter.chatId) !== String(chatId)) return false;
  return true;
}

/** A small seeded PRNG (mulberry32): the same seed gives the same fault sequence. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
