/**
 * The Bot API methods the fake server implements. Each handler validates like the real server, in
 * the real server's order: parameters (Bot API level) → chat (`check_chat`) → content checks in
 * TDLib (caption length, album rules) → checks Telegram's servers make (image processing, expired
 * file ids, blocked users) → flood limits → delivery. Anything that fails delivers nothing.
 */
import type { Message, MessageEntity, Update, UserFromGetMe } from 'grammy/types';
import {
  BotApiError,
  badRequest,
  Descriptions,
  nginxEntityTooLarge,
  tooManyRequests,
} from './bot-api-error.js';
import type { BotCommandStore } from './bot-commands.js';
import type { DeliveredMessage } from './call-log.js';
import type { ChatRecord, ChatRegistry, SendContent } from './chat-registry.js';
import { type FileKind, type FileStore, mimeTypeFor, type StoredFile } from './file-store.js';
import { type ImageSize, readImageSize } from './image-size.js';
import type { RateLimiter } from './rate-limiter.js';
import type { ApiRequest, ReceivedFile } from './request-params.js';
import { codePointLength, type FormattedText, formatText } from './text-entities.js';
import { myChatMemberUpdate, type UpdateWithoutId } from './update-builders.js';
import type { UpdateQueue } from './update-queue.js';

/** Upload limits of the cloud Bot API (research §3). */
export interface UploadLimits {
  /** Largest document/video/audio upload in bytes. Default 50 MB (52428800). */
  maxDocumentBytes: number;
  /** Largest photo upload in bytes. Default 10 MB (10485760). */
  maxPhotoBytes: number;
  /** Most file parts in one multipart request. Default 50. */
  maxFilesPerRequest: number;
}

export const DEFAULT_UPLOAD_LIMITS: Readonly<UploadLimits> = {
  maxDocumentBytes: 50 * 1024 * 1024,
  maxPhotoBytes: 10 * 1024 * 1024,
  maxFilesPerRequest: 50,
};

/** What a send carried besides its content, kept for `messagesIn`. */
export interface SentOptions {
  reply_markup?: unknown;
  disable_notification?: boolean;
  protect_content?: boolean;
  allow_paid_broadcast?: boolean;
}

/** The bot's Telegram Stars balance, for paid broadcasts. */
export interface StarsAccount {
  /** Charges 0.1 Star per billed message; false (nothing charged) when the balance cannot pay. */
  pay(billedMessages: number): boolean;
}

/** The server state the handlers work on. */
export interface ServerState {
  readonly bot: UserFromGetMe;
  readonly chats: ChatRegistry;
  readonly files: FileStore;
  readonly updates: UpdateQueue;
  readonly commands: BotCommandStore;
  readonly limits: UploadLimits;
  rateLimiter(): RateLimiter | undefined;
  readonly stars: StarsAccount;
  /** Current time, ms. */
  now(): number;
  nextMessageId(chatId: number): number;
  nextMediaGroupId(): string;
  /** Records a message as received by its chat. */
  deliver(chatId: number, message: Message, sent: SentOptions): void;
  /** Queues an update for the bot (used when the bot's own actions produce one). */
  enqueue(update: UpdateWithoutId): Update;
  /** A message the bot sent and the chat still has, for editMessageText. */
  findDelivered(chatId: number, messageId: number): DeliveredMessage | undefined;
  /** Callback queries sent to the bot, by id, with the bot's answer once given. */
  readonly callbackQueries: Map<string, CallbackQueryRecord>;
}

/** A callback query the fake sent to the bot (a button press) and how the bot answered it. */
export interface CallbackQueryRecord {
  id: string;
  fromId: number;
  answer?: { text?: string; show_alert?: boolean; url?: string; cache_time?: number };
}

/** Per-call data a handler reads and fills for the call log. */
export interface CallContext {
  request: ApiRequest;
  /** The call's chat, once known. */
  chatId?: number | string;
  /** Set when the call delivered something to a chat. */
  delivered: boolean;
  /** For long polls: lets the server cancel the held request when the client goes away. */
  registerCancel(cancel: () => void): void;
}

export type MethodHandler = (call: CallContext, state: ServerState) => unknown;

/** Canonical name and handler per lower-case method name (methods are case-insensitive). */
export const METHODS = new Map<string, { name: string; handler: MethodHandler }>();

export function register(name: string, handler: MethodHandler): void {
  METHODS.set(name.toLowerCase(), { name, handler });
}

register('getMe', (_call, state) => state.bot);

register('getUpdates', (call, state) => state.updates.poll(call.request.params, call.registerCancel));

register('deleteWebhook', (call, state) => {
  state.updates.webhookUrl = '';
  if (call.request.params.drop_pending_updates === true) state.updates.dropPending();
  return true;
});

register('setWebhook', (call, state) => {
  const { params } = call.request;
  const url = typeof params.url === 'string' ? params.url.trim() : '';
  if (url !== '' && !/^https:\/\//i.test(url)) {
    throw badRequest('bad webhook: An HTTPS URL must be provided for webhook');
  }
  state.updates.webhookUrl = url;
  state.updates.setAllowedUpdates(params.allowed_updates);
  if (params.drop_pending_updates === true) state.updates.dropPending();
  return true;
});

register('getWebhookInfo', (_call, state) => ({
  url: state.updates.webhookUrl,
  has_custom_certificate: false,
  pending_update_count: state.updates.unconfirmed().length,
  ...(state.updates.webhookUrl === '' ? {} : { max_connections: 40 }),
  ...(state.updates.allowed.length === 0 ? {} : { allowed_updates: [...state.updates.allowed] }),
}));

register('setMyCommands', (call, state) => state.commands.set(call.request.params));
register('getMyCommands', (call, state) => state.commands.get(call.request.params));
register('deleteMyCommands', (call, state) => state.commands.delete(call.request.params));

register('getChat', (call, state) => {
  const chatId = state.chats.resolveChatId(call.request.params.chat_id);
  call.chatId = chatId;
  return state.chats.fullInfo(state.chats.require(chatId));
});

register('leaveChat', (call, state) => {
  const chatId = state.chats.resolveChatId(call.request.params.chat_id);
  call.chatId = chatId;
  const chat = state.chats.require(chatId);
  if (chat.type === 'private') throw badRequest("chat member status can't be changed in private chats");
  state.chats.checkCanPost(chat, 'text messages');
  const oldStatus = chat.botStatus;
  chat.botStatus = 'left';
  // Telegram tells the bot about its own departure like about any other status change.
  state.enqueue(
    myChatMemberUpdate({
      chat: state.chats.chatObject(chat),
      from: state.bot,
      bot: state.bot,
      date: unixSeconds(state.now()),
      oldStatus,
      newStatus: 'left',
    }),
  );
  return true;
});

register('sendMessage', (call, state) => {
  const { params } = call.request;
  const replyMarkup = parseReplyMarkup(params.reply_markup);
  const rawText =
    typeof params.text === 'string' ? params.text : params.text === undefined ? '' : String(params.text);
  if (rawText.trim() === '') throw badRequest(Descriptions.messageTextEmpty);
  const formatted = formatText(rawText, params.parse_mode, params.entities);
  if (formatted.text.trim() === '') throw badRequest(Descriptions.messageTextEmpty);

  const { chat, threadId } = resolveTarget(call, state, 'text messages');
  if (codePointLength(formatted.text) > 4096) throw badRequest(Descriptions.messageTooLong);
  state.chats.checkRecipientAccepts(chat);
  admitOrThrow(state, chat, 1, params);

  const message = baseMessage(state, chat, threadId, params);
  message.text = formatted.text;
  if (formatted.entities.length > 0) message.entities = formatted.entities;
  attachInlineMarkup(message, replyMarkup);
  return deliver(call, state, chat, message as unknown as Message, params, replyMarkup);
});

register('sendDocument', (call, state) => sendFile(call, state, 'document'));
register('sendPhoto', (call, state) => sendFile(call, state, 'photo'));

register('sendMediaGroup', (call, state) => {
  const { params, files } = call.request;
  const items = parseAlbum(params.media);
  const prepared = items.map((item) => ({
    item,
    input: resolveFileInput(item.media, undefined, item.type, files, state, 'album'),
    caption: formatCaption(item.caption, item.parse_mode, item.caption_entities),
  }));
  checkUploadSizes(
    state,
    prepared.map((entry) => entry.input),
  );

  const { chat, threadId } = resolveTarget(call, state, contentOf(items[0]!.type));
  for (const entry of prepared) checkCaptionLength(entry.caption);
  checkAlbumMix(items.map((item) => item.type));
  const captionAbove = new Set(items.map((item) => item.show_caption_above_media === true));
  if (captionAbove.size > 1) {
    throw badRequest('parameter show_caption_above_media must be the same for all messages');
  }
  const processed = prepared.map((entry, index) => {
    try {
      return processInput(entry.input);
    } catch (error) {
      // Telegram's servers refuse album members one by one; the Bot API names the member.
      if (error instanceof BotApiError && error.errorCode === 400) {
        const inner = error.description.replace(/^Bad Request: /, '');
        throw badRequest(
          `failed to send message #${index + 1} with the error message "${capitalize(inner)}"`,
        );
      }
      throw error;
    }
  });
  state.chats.checkRecipientAccepts(chat);
  admitOrThrow(state, chat, items.length, params);

  const mediaGroupId = items.length > 1 ? state.nextMediaGroupId() : undefined;
  const messages = prepared.map((entry, index) => {
    const message = baseMessage(state, chat, threadId, params);
    attachFile(message, entry.item.type, processed[index]!, state);
    applyCaption(message, entry.caption);
    if (entry.item.show_caption_above_media === true && entry.item.type !== 'document') {
      message.show_caption_above_media = true;
    }
    if (entry.item.has_spoiler === true && (entry.item.type === 'photo' || entry.item.type === 'video')) {
      message.has_media_spoiler = true;
    }
    if (mediaGroupId !== undefined) message.media_group_id = mediaGroupId;
    return message as unknown as Message;
  });
  for (const message of messages) state.deliver(chat.id, message, sentOptions(params, undefined));
  call.delivered = true;
  return messages;
});

/** sendDocument / sendPhoto. */
function sendFile(call: CallContext, state: ServerState, kind: 'document' | 'photo'): Message {
  const { params, files } = call.request;
  const replyMarkup = parseReplyMarkup(params.reply_markup);
  const input = resolveFileInput(params[kind], kind, kind, files, state, 'single');
  const caption = formatCaption(params.caption, params.parse_mode, params.caption_entities);
  checkUploadSizes(state, [input]);

  const { chat, threadId } = resolveTarget(call, state, contentOf(kind));
  checkCaptionLength(caption);
  const processed = processInput(input);
  state.chats.checkRecipientAccepts(chat);
  admitOrThrow(state, chat, 1, params);

  const message = baseMessage(state, chat, threadId, params);
  attachFile(message, kind, processed, state);
  applyCaption(message, caption);
  if (params.show_caption_above_media === true && kind === 'photo') message.show_caption_above_media = true;
  if (params.has_spoiler === true && kind === 'photo') message.has_media_spoiler = true;
  attachInlineMarkup(message, replyMarkup);
  return deliver(call, state, chat, message as unknown as Message, params, replyMarkup);
}

// ---------------------------------------------------------------------------------------------
// Files

/** A file field as the request gave it, before Telegram's servers look at it. */
type FileInput =
  | { source: 'upload'; kind: FileKind; file: ReceivedFile }
  | { source: 'stored'; kind: FileKind; file: StoredFile }
  | { source: 'revoked'; kind: FileKind };

/** A file ready to attach to a message. */
type ProcessedFile =
  | { source: 'stored'; file: StoredFile }
  | { source: 'upload'; file: ReceivedFile; image?: ImageSize };

/**
 * Resolves a file field: `attach://<part>`, a file part named like the field, a file_id issued by
 * this server, or an URL (not fetched by the fake).
 */
function resolveFileInput(
  value: unknown,
  fieldName: string | undefined,
  kind: FileKind,
  files: Map<string, ReceivedFile>,
  state: ServerState,
  mode: 'single' | 'album',
): FileInput {
  const missing = () =>
    mode === 'album'
      ? badRequest("can't parse InputMedia: media not found")
      : badRequest(`there is no ${kind} in the request`);
  const text = typeof value === 'string' ? value.trim() : '';
  if (text === '') {
    const part = fieldName === undefined ? undefined : files.get(fieldName);
    if (part === undefined) throw missing();
    return { source: 'upload', kind, file: part };
  }
  if (text.startsWith('attach://')) {
    const part = files.get(text.slice('attach://'.length));
    if (part === undefined) throw missing();
    return { source: 'upload', kind, file: part };
  }
  if (/^https?:\/\//i.test(text)) {
    // The fake does not download URLs; the real server would fetch (≤ 5 MB photos, 20 MB other).
    throw badRequest('failed to get HTTP URL content');
  }
  const found = state.files.lookup(text, kind);
  if (found.status === 'unknown') throw badRequest(Descriptions.wrongFileIdentifier);
  if (found.status === 'revoked') return { source: 'revoked', kind };
  return { source: 'stored', kind, file: found.file };
}

/** nginx refuses over-size bodies before the Bot API sees them: 413 with an HTML page. */
function checkUploadSizes(state: ServerState, inputs: FileInput[]): void {
  for (const input of inputs) {
    if (input.source !== 'upload') continue;
    const limit = input.kind === 'photo' ? state.limits.maxPhotoBytes : state.limits.maxDocumentBytes;
    if (input.file.size > limit) throw nginxEntityTooLarge();
  }
}

/** What Telegram's servers check when the file is used: expired ids, photo processing. */
function processInput(input: FileInput): ProcessedFile {
  if (input.source === 'revoked') throw badRequest(Descriptions.wrongFileIdentifier);
  if (input.source === 'stored') return { source: 'stored', file: input.file };
  if (input.kind !== 'photo') return { source: 'upload', file: input.file };
  const image = readImageSize(input.file.data);
  if (image === undefined) throw badRequest('IMAGE_PROCESS_FAILED');
  const { width, height } = image;
  if (width + height > 10_000 || Math.max(width, height) / Math.min(width, height) > 20) {
    throw badRequest('PHOTO_INVALID_DIMENSIONS');
  }
  return { source: 'upload', file: input.file, image };
}

function attachFile(
  message: Record<string, unknown>,
  kind: FileKind,
  processed: ProcessedFile,
  state: ServerState,
) {
  let stored: StoredFile;
  if (processed.source === 'stored') {
    stored = processed.file;
  } else {
    const { file } = processed;
    const fileName = file.filename;
    const common = {
      sha256: file.sha256,
      size: file.size,
      fileName,
      mimeType: mimeTypeFor(fileName, file.contentType),
    };
    if (kind === 'photo')
      stored = state.files.storePhoto({ sha256: file.sha256, size: file.size, image: processed.image! });
    else if (kind === 'document') stored = state.files.storeDocument(common);
    else stored = state.files.storeMedia(kind, common);
  }
  if (kind === 'photo') message.photo = stored.photo!.map((size) => ({ ...size }));
  else if (kind === 'document') message.document = { ...stored.document! };
  else if (kind === 'video') message.video = { ...stored.video! };
  else message.audio = { ...stored.audio! };
}

// ---------------------------------------------------------------------------------------------
// Albums

interface AlbumItem {
  type: 'photo' | 'video' | 'document' | 'audio';
  media: unknown;
  caption?: unknown;
  parse_mode?: unknown;
  caption_entities?: unknown;
  show_caption_above_media?: unknown;
  has_spoiler?: unknown;
}

function parseAlbum(raw: unknown): AlbumItem[] {
  if (raw === undefined || raw === null || raw === '') throw badRequest('parameter "media" is required');
  if (typeof raw === 'string') throw badRequest("can't parse media JSON object");
  if (!Array.isArray(raw)) throw badRequest('media must be an Array of InputMedia');
  if (raw.length === 0) throw badRequest('there are no messages to send');
  if (raw.length > 10) throw badRequest('too many messages to send as an album');
  return raw.map((entry): AlbumItem => {
    if (typeof entry !== 'object' || entry === null)
      throw badRequest("can't parse InputMedia: expected an Object");
    const item = entry as Record<string, unknown>;
    const type = item.type;
    if (typeof type !== 'string')
      throw badRequest(`can't parse InputMedia: Field "type" must be of type String`);
    if (type === 'animation')
      throw badRequest(`can't parse InputMedia: type "animation" can't be used in sendMediaGroup`);
    if (type !== 'photo' && type !== 'video' && type !== 'document' && type !== 'audio') {
      throw badRequest(`can't parse InputMedia: type "${type}" is unsupported`);
    }
    return { ...item, type } as AlbumItem;
  });
}

/** TDLib `send_message_group`: documents and audio files only with their own kind. */
function checkAlbumMix(types: AlbumItem['type'][]): void {
  const distinct = new Set(types);
  if (distinct.size < 2) return;
  if (distinct.has('document')) throw badRequest("document can't be mixed with other media types");
  if (distinct.has('audio')) throw badRequest("audio can't be mixed with other media types");
}

// ---------------------------------------------------------------------------------------------
// Text, captions, markup

function formatCaption(caption: unknown, parseMode: unknown, entities: unknown): FormattedText | undefined {
  if (caption === undefined || caption === null) return undefined;
  const text = typeof caption === 'string' ? caption : String(caption);
  if (text === '') return undefined;
  return formatText(text, parseMode, entities);
}

function checkCaptionLength(caption: FormattedText | undefined): void {
  if (caption !== undefined && codePointLength(caption.text) > 1024)
    throw badRequest(Descriptions.captionTooLong);
}

function applyCaption(message: Record<string, unknown>, caption: FormattedText | undefined): void {
  if (caption === undefined || caption.text === '') return;
  message.caption = caption.text;
  if (caption.entities.length > 0) message.caption_entities = caption.entities satisfies MessageEntity[];
}

/** Validates `reply_markup`: inline keyboard, reply keyboard, keyboard removal or force reply. */
export function parseReplyMarkup(raw: unknown): Record<string, unknown> | undefined {
  if (raw === undefined || raw === null || raw === '') return undefined;
  const invalid = () => badRequest("can't parse reply keyboard markup JSON object");
  if (typeof raw !== 'object' || Array.isArray(raw)) throw invalid();
  const markup = raw as Record<string, unknown>;
  const rowsOf = (value: unknown) => Array.isArray(value) && value.every((row) => Array.isArray(row));
  if ('inline_keyboard' in markup) {
    if (!rowsOf(markup.inline_keyboard))
      throw badRequest('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array');
    for (const row of markup.inline_keyboard as unknown[][]) {
      for (const button of row) {
        if (
          typeof button !== 'object' ||
          button === null ||
          typeof (button as { text?: unknown }).text !== 'string'
        ) {
          throw badRequest('can\'t parse inline keyboard button: Field "text" must be of type String');
        }
      }
    }
    return markup;
  }
  if ('keyboard' in markup) {
    if (!rowsOf(markup.keyboard))
      throw badRequest('field "keyboard" of the ReplyKeyboardMarkup must be an Array');
    for (const row of markup.keyboard as unknown[][]) {
      for (const button of row) {
        const isButton =
          typeof button === 'string' ||
          (typeof button === 'object' &&
            button !== null &&
            typeof (button as { text?: unknown }).text === 'string');
        if (!isButton) throw badRequest('can\'t parse keyboard button: Field "text" must be of type String');
      }
    }
    return markup;
  }
  if (markup.remove_keyboard === true || markup.force_reply === true) return markup;
  throw invalid();
}

/** Only inline keyboards come back in `Message.reply_markup`. */
function attachInlineMarkup(
  message: Record<string, unknown>,
  markup: Record<string, unknown> | undefined,
): void {
  if (markup !== undefined && 'inline_keyboard' in markup) message.reply_markup = markup;
}

// ---------------------------------------------------------------------------------------------
// Chats, limits, delivery

function resolveTarget(
  call: CallContext,
  state: ServerState,
  content: SendContent,
): { chat: ChatRecord; threadId: number | undefined } {
  const chatId = state.chats.resolveChatId(call.request.params.chat_id);
  call.chatId = chatId;
  const chat = state.chats.require(chatId);
  state.chats.checkCanPost(chat, content);
  const threadId = state.chats.checkThread(chat, call.request.params.message_thread_id);
  return { chat, threadId };
}

function contentOf(kind: FileKind): SendContent {
  switch (kind) {
    case 'document':
      return 'documents';
    case 'photo':
      return 'photos';
    case 'video':
      return 'videos';
    case 'audio':
      return 'audio files';
  }
}

/**
 * The flood limits, and with `allow_paid_broadcast` the raised overall limit and its bill in Stars
 * (0.1 Star per message beyond the free amount). The Bot API does not document the refusal when the
 * bot's balance cannot pay; it passes Telegram's own error name on as a 400 (like `TOPIC_CLOSED`),
 * which for a Stars balance is `BALANCE_TOO_LOW` (see docs/operations.md).
 */
function admitOrThrow(
  state: ServerState,
  chat: ChatRecord,
  messageCount: number,
  params: Record<string, unknown>,
): void {
  const limiter = state.rateLimiter();
  if (limiter === undefined) return;
  const paid = params.allow_paid_broadcast === true;
  const verdict = limiter.admit(chat.id, chat.type !== 'private', messageCount, state.now(), paid, (billed) =>
    state.stars.pay(billed),
  );
  if (verdict === 'unpaid') throw badRequest(Descriptions.balanceTooLow);
  if (verdict !== undefined) throw tooManyRequests(verdict);
}

function baseMessage(
  state: ServerState,
  chat: ChatRecord,
  threadId: number | undefined,
  params: Record<string, unknown>,
): Record<string, unknown> {
  const chatObject = state.chats.chatObject(chat);
  return {
    message_id: state.nextMessageId(chat.id),
    // channel posts have the channel as sender instead of the bot
    ...(chat.type === 'channel' ? { sender_chat: chatObject } : { from: botAsSender(state.bot) }),
    date: unixSeconds(state.now()),
    chat: chatObject,
    ...(threadId === undefined ? {} : { message_thread_id: threadId, is_topic_message: true }),
    ...(params.protect_content === true ? { has_protected_content: true } : {}),
  };
}

function botAsSender(bot: UserFromGetMe) {
  return { id: bot.id, is_bot: true, first_name: bot.first_name, username: bot.username };
}

function sentOptions(params: Record<string, unknown>, replyMarkup: unknown): SentOptions {
  return {
    ...(replyMarkup === undefined ? {} : { reply_markup: replyMarkup }),
    ...(params.disable_notification === true ? { disable_notification: true } : {}),
    ...(params.protect_content === true ? { protect_content: true } : {}),
    ...(params.allow_paid_broadcast === true ? { allow_paid_broadcast: true } : {}),
  };
}

function deliver(
  call: CallContext,
  state: ServerState,
  chat: ChatRecord,
  message: Message,
  params: Record<string, unknown>,
  replyMarkup: unknown,
): Message {
  state.deliver(chat.id, message, sentOptions(params, replyMarkup));
  call.delivered = true;
  return message;
}

export function unixSeconds(ms: number): number {
  return Math.floor(ms / 1000);
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
