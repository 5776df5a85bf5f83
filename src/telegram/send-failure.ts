/**
 * What a failed Bot API call means for a delivery. Decisions are made on `error_code` and
 * `parameters` first and on the description text only where Telegram gives nothing better.
 */
import { GrammyError, HttpError } from 'grammy';
import { describeProxyError } from './telegram-proxy.js';

export type SendFailureKind =
  /** 429: wait `retryAfterMs`, then try again; not a failure. */
  | 'rate-limited'
  /** 400 with migrate_to_chat_id: the group became a supergroup with a new id. */
  | 'migrated'
  /** 403, chat not found, deactivated, deleted: this chat can no longer receive anything. */
  | 'chat-gone'
  /** The caption or its entities were refused: send with a simpler caption. */
  | 'caption-rejected'
  /** A file_id was refused: upload the file again. */
  | 'file-id-rejected'
  /** The image was refused as a photo: send it as a document. */
  | 'photo-rejected'
  /** The forum topic does not exist (any more): send to the group's main thread. */
  | 'thread-not-found'
  /**
   * Network trouble, a server error (5xx) or 401 for the token: Telegram, or the way to it, may be
   * failing as a whole. The dispatcher asks getMe before it counts this against the delivery.
   */
  | 'telegram-down'
  /**
   * A paid broadcast (`allow_paid_broadcast`) the bot's Telegram Stars balance cannot pay: send at the
   * free rate, without the flag, and tell the admin chat.
   */
  | 'stars-exhausted'
  /** The bot lacks a right in the group (`details.right`): send what it may instead. */
  | 'missing-right'
  /** Not used for Bot API calls any more (a proxy's page is 'telegram-down' with `notBotApi`). */
  | 'transient'
  /** Anything else: try again a few times, then give up. */
  | 'other';

export class SendFailure extends Error {
  constructor(
    readonly kind: SendFailureKind,
    message: string,
    readonly details: {
      retryAfterMs?: number;
      newChatId?: number;
      errorCode?: number;
      /** For 'missing-right': what the bot may not send, in Telegram's words ("photos", "documents", "text messages"). */
      right?: string;
      /**
       * For 'telegram-down': the answer was not the Bot API's (an HTML page of a proxy). Only getMe
       * decides whether Telegram is down: a 413 page for a too-large upload is this request's own.
       */
      notBotApi?: boolean;
    } = {},
  ) {
    super(message);
    this.name = 'SendFailure';
  }
}

const CHAT_GONE = [
  /chat not found/i,
  /bot was blocked by the user/i,
  /bot was kicked/i,
  /bot is not a member/i,
  /user is deactivated/i,
  /chat was deleted/i,
  /group chat was deactivated/i,
  /have no rights to send/i,
  /need administrator rights/i,
  /CHAT_WRITE_FORBIDDEN/i,
  /PEER_ID_INVALID/i,
];

/** Classifies an error thrown by a grammY Api call. */
export function classifySendError(error: unknown): SendFailure {
  if (error instanceof SendFailure) return error;
  if (error instanceof GrammyError) {
    const { error_code: code, description, parameters } = error;
    const text = `${code}: ${description}`;
    if (code === 429) {
      const seconds = typeof parameters.retry_after === 'number' ? parameters.retry_after : 5;
      return new SendFailure('rate-limited', text, { retryAfterMs: seconds * 1000, errorCode: code });
    }
    if (typeof parameters.migrate_to_chat_id === 'number') {
      return new SendFailure('migrated', text, { newChatId: parameters.migrate_to_chat_id, errorCode: code });
    }
    if (code === 403) return new SendFailure('chat-gone', text, { errorCode: code });
    if (code >= 500 || code === 401) return new SendFailure('telegram-down', text, { errorCode: code });
    if (code === 400) {
      // Telegram's error name for a Stars balance too low (the Bot API passes such names on as they are)
      if (/BALANCE_TOO_LOW|not enough stars|stars balance/i.test(description)) {
        return new SendFailure('stars-exhausted', text, { errorCode: code });
      }
      if (/message thread not found|TOPIC_CLOSED|TOPIC_DELETED/i.test(description)) {
        return new SendFailure('thread-not-found', text, { errorCode: code });
      }
      // a group's permissions, not a chat that is gone: the bot may still send other things there
      const missing = /not enough rights to send ([a-z ]+?) to the chat/i.exec(description);
      if (missing) return new SendFailure('missing-right', text, { errorCode: code, right: missing[1]! });
      if (CHAT_GONE.some((pattern) => pattern.test(description)))
        return new SendFailure('chat-gone', text, { errorCode: code });
      if (
        /wrong file identifier|file reference|can't use file of type|FILE_ID_INVALID|wrong remote file/i.test(
          description,
        )
      ) {
        return new SendFailure('file-id-rejected', text, { errorCode: code });
      }
      if (
        /can't parse entities|caption is too long|MEDIA_CAPTION_TOO_LONG|ENTITY_|entit/i.test(description)
      ) {
        return new SendFailure('caption-rejected', text, { errorCode: code });
      }
      if (/PHOTO_INVALID_DIMENSIONS|IMAGE_PROCESS_FAILED|PHOTO_|photo/i.test(description)) {
        return new SendFailure('photo-rejected', text, { errorCode: code });
      }
    }
    return new SendFailure('other', text, { errorCode: code });
  }
  if (error instanceof HttpError) {
    // an answer that is not JSON: a proxy's page, a 502/503/504 while Telegram behind it fails (the
    // path to Telegram is down) or a 413 for this request's body. getMe tells them apart
    if (isNotJson(error.error)) {
      return new SendFailure('telegram-down', "the answer was not the Bot API's (a proxy error page?)", {
        notBotApi: true,
      });
    }
    const proxyFailure = describeProxyError(error);
    if (proxyFailure) return new SendFailure('telegram-down', `network error: ${proxyFailure}`);
    return new SendFailure('telegram-down', `network error: ${describeCause(error.error)}`);
  }
  return new SendFailure('other', error instanceof Error ? error.message : String(error));
}

/** The answer's body was not JSON: node-fetch's FetchError of type 'invalid-json' (or a bare SyntaxError). */
function isNotJson(cause: unknown): boolean {
  return (
    cause instanceof SyntaxError ||
    (cause instanceof Error &&
      cause.name === 'FetchError' &&
      (cause as { type?: string }).type === 'invalid-json')
  );
}

function describeCause(cause: unknown): string {
  if (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code;
    // fetch errors quote the request URL, which holds the bot token: name the kind, not the URL
    return code ? `${cause.name} ${code}` : cause.name === 'AbortError' ? 'timed out' : cause.name;
  }
  return 'request failed';
}
