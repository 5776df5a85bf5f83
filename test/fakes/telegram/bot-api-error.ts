/**
 * Error answers of the fake Bot API server, shaped and worded as tdlib/telegram-bot-api builds them
 * (`Client::fail_query_with_error`, `Query::set_retry_after_error`): JSON
 * `{ ok: false, error_code, description, parameters? }` with HTTP status = `error_code`.
 */
import type { ResponseParameters } from 'grammy/types';

/** A JSON error answer. Thrown inside method handlers and turned into the HTTP answer by the server. */
export class BotApiError extends Error {
  constructor(
    /** HTTP status and `error_code`. */
    readonly errorCode: number,
    /** Full `description`, prefix included (`Bad Request: …`). */
    readonly description: string,
    /** `parameters` (`retry_after`, `migrate_to_chat_id`), only when the real server sends them. */
    readonly parameters?: ResponseParameters,
  ) {
    super(description);
    this.name = 'BotApiError';
  }

  /** The JSON body the real server sends for this error. */
  toJSON(): { ok: false; error_code: number; description: string; parameters?: ResponseParameters } {
    return {
      ok: false,
      error_code: this.errorCode,
      description: this.description,
      ...(this.parameters === undefined ? {} : { parameters: this.parameters }),
    };
  }
}

/**
 * An answer that is not Bot API JSON: what a front proxy (nginx) or the HTTP layer of the server
 * sends, e.g. `413 Request Entity Too Large` as an HTML page or with an empty body.
 */
export class RawHttpAnswer extends Error {
  constructor(
    readonly status: number,
    readonly contentType: string | undefined,
    readonly body: string,
    /** Close the connection after answering, as nginx/TDLib do after a rejected body. */
    readonly closeConnection: boolean,
  ) {
    super(`HTTP ${status}`);
    this.name = 'RawHttpAnswer';
  }
}

/** `400 Bad Request: <what>` */
export function badRequest(what: string, parameters?: ResponseParameters): BotApiError {
  return new BotApiError(400, `Bad Request: ${what}`, parameters);
}

/** `403 Forbidden: <what>` */
export function forbidden(what: string): BotApiError {
  return new BotApiError(403, `Forbidden: ${what}`);
}

/** `429 Too Many Requests: retry after N` with `parameters.retry_after` (N ≥ 1 whole seconds). */
export function tooManyRequests(retryAfterSeconds: number): BotApiError {
  const retryAfter = Math.max(1, Math.ceil(retryAfterSeconds));
  return new BotApiError(429, `Too Many Requests: retry after ${retryAfter}`, { retry_after: retryAfter });
}

/** The page nginx in front of api.telegram.org serves for an over-size body (a non-JSON answer). */
export function nginxEntityTooLarge(): RawHttpAnswer {
  const page =
    '<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n' +
    '<center><h1>413 Request Entity Too Large</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n' +
    '</body>\r\n</html>\r\n';
  return new RawHttpAnswer(413, 'text/html', page, true);
}

/** The reasons nginx gives for the gateway statuses it answers itself. */
const GATEWAY_REASONS: Record<number, string> = {
  502: 'Bad Gateway',
  503: 'Service Temporarily Unavailable',
  504: 'Gateway Time-out',
};

/**
 * The page nginx (a reverse proxy in front of TELEGRAM_API_ROOT) serves when its upstream fails: a
 * 502/503/504 status with nginx's HTML error page (a non-JSON answer; grammY: HttpError).
 */
export function nginxGatewayPage(status: 502 | 503 | 504): RawHttpAnswer {
  const title = `${status} ${GATEWAY_REASONS[status]}`;
  const page =
    `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n` +
    `<center><h1>${title}</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n` +
    '</body>\r\n</html>\r\n';
  return new RawHttpAnswer(status, 'text/html', page, false);
}

/**
 * TDLib's HTTP reader refuses a multipart body with more than 50 files by writing the status line
 * with an empty body and closing the connection (`HttpConnectionBase::loop`).
 */
export function tooManyFilesAttached(): RawHttpAnswer {
  return new RawHttpAnswer(413, undefined, '', true);
}

/** Descriptions used in more than one place, verbatim from the Bot API server. */
export const Descriptions = {
  unauthorized: 'Unauthorized',
  notFound: 'Not Found',
  methodNotFound: 'Not Found: method not found',
  chatNotFound: 'chat not found',
  wrongFileIdentifier: 'wrong file identifier/HTTP URL specified',
  captionTooLong: 'message caption is too long',
  messageTooLong: 'message is too long',
  messageTextEmpty: 'message text is empty',
  threadNotFound: 'message thread not found',
  groupUpgraded: 'group chat was upgraded to a supergroup chat',
  /** Telegram's error name for a Stars balance too low to pay (here: a paid broadcast). */
  balanceTooLow: 'BALANCE_TOO_LOW',
  getUpdatesConflict:
    'Conflict: terminated by other getUpdates request; make sure that only one bot instance is running',
  webhookActiveConflict:
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
} as const;
