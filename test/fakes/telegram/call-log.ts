/**
 * What the fake server records for inspection: one entry per HTTP call (parameters without file
 * bytes, the uploaded files with their sizes and hashes, the answer) and, per chat, the messages
 * the chat actually received.
 */
import type { InlineKeyboardMarkup, Message, MessageEntity } from 'grammy/types';

/** A file part received with a call. */
export interface UploadedFileInfo {
  /** The multipart part name (grammY: a random id referred to as `attach://<id>`). */
  field: string;
  /** The file name after decoding, exactly as the server stores it. */
  filename: string;
  /** The `filename` parameter as it appeared in the part header. */
  rawFilename: string;
  size: number;
  /** Hex SHA-256 of the bytes. */
  sha256: string;
}

/** One HTTP call to the fake Bot API. */
export interface CallLogEntry {
  /** 1, 2, 3… in arrival order. */
  seq: number;
  /** Arrival time, ms since the epoch. */
  at: number;
  /** Which client made the call, when it used an API root of `apiRootFor(source)`. */
  source?: string;
  /** Method name in canonical casing (`sendDocument`), whatever casing the URL used. */
  method: string;
  /** The resolved chat id for chat-bound calls (`chat_id` as sent when it could not be resolved). */
  chatId?: number | string;
  /** Coerced parameters; file parts are not included (see `files`). */
  params: Record<string, unknown>;
  files: UploadedFileInfo[];
  /** Sum of the file part sizes: 0 for sends by file_id. */
  uploadedBytes: number;
  /** HTTP status answered; 0 when the connection was dropped without an answer. */
  status: number;
  /** `description` of an error answer. */
  errorDescription?: string;
  /** The scripted/random fault applied to the call, if any (`kind` of the fault). */
  fault?: string;
  /** True when the call's message(s) reached the chat (also for "delivered, then dropped"). */
  delivered: boolean;
}

/** Content type of a delivered message. */
export type DeliveredMessageType = 'text' | 'document' | 'photo' | 'video' | 'audio';

/** A message a chat received from the bot, summarized for assertions. */
export interface DeliveredMessage {
  message_id: number;
  /** Unix seconds. */
  date: number;
  type: DeliveredMessageType;
  text?: string;
  entities?: MessageEntity[];
  caption?: string;
  caption_entities?: MessageEntity[];
  /** For photos: the largest size's id. */
  file_unique_id?: string;
  file_id?: string;
  file_name?: string;
  mime_type?: string;
  file_size?: number;
  media_group_id?: string;
  message_thread_id?: number;
  /** The markup as the bot SENT it (reply keyboards included, unlike `Message.reply_markup`). */
  reply_markup?: unknown;
  disable_notification?: boolean;
  protect_content?: boolean;
  /** Sent with `allow_paid_broadcast` (counted against the paid 1000/s limit). */
  allow_paid_broadcast?: boolean;
  /** The full Bot API message returned to the bot (as last edited). */
  message: Message;
  /** Set once the bot edited the message (editMessageText). */
  edited?: boolean;
}

/** Totals over the call log. */
export interface CallTotals {
  calls: number;
  uploadedBytes: number;
  /** Calls per canonical method name. */
  byMethod: Record<string, number>;
}

/** Builds the summary of a sent message. */
export function summarizeMessage(
  message: Message,
  sent: {
    reply_markup?: unknown;
    disable_notification?: boolean;
    protect_content?: boolean;
    allow_paid_broadcast?: boolean;
  },
): DeliveredMessage {
  const record = message as Message & {
    text?: string;
    caption?: string;
    entities?: MessageEntity[];
    caption_entities?: MessageEntity[];
    media_group_id?: string;
    message_thread_id?: number;
    reply_markup?: InlineKeyboardMarkup;
  };
  const base: DeliveredMessage = {
    message_id: message.message_id,
    date: message.date,
    type: 'text',
    message,
  };
  const file =
    record.document ??
    record.video ??
    record.audio ??
    (record.photo ? record.photo[record.photo.length - 1] : undefined);
  if (record.document) base.type = 'document';
  else if (record.photo) base.type = 'photo';
  else if (record.video) base.type = 'video';
  else if (record.audio) base.type = 'audio';
  if (record.text !== undefined) base.text = record.text;
  if (record.entities !== undefined) base.entities = record.entities;
  if (record.caption !== undefined) base.caption = record.caption;
  if (record.caption_entities !== undefined) base.caption_entities = record.caption_entities;
  if (file !== undefined) {
    base.file_unique_id = file.file_unique_id;
    base.file_id = file.file_id;
    if (file.file_size !== undefined) base.file_size = file.file_size;
    if ('file_name' in file && file.file_name !== undefined) base.file_name = file.file_name;
    if ('mime_type' in file && file.mime_type !== undefined) base.mime_type = file.mime_type;
  }
  if (record.media_group_id !== undefined) base.media_group_id = record.media_group_id;
  if (record.message_thread_id !== undefined) base.message_thread_id = record.message_thread_id;
  if (sent.reply_markup !== undefined) base.reply_markup = sent.reply_markup;
  if (sent.disable_notification) base.disable_notification = true;
  if (sent.protect_content) base.protect_content = true;
  if (sent.allow_paid_broadcast) base.allow_paid_broadcast = true;
  return base;
}
