/**
 * Sends one planned message of a report to one chat through the Bot API, uploading each file only
 * the first time and reusing its file_id afterwards. Refusals that have a sure remedy are handled on
 * the spot: a refused caption is simplified, a refused file_id is uploaded again, a photo Telegram
 * will not take goes as a document, a missing forum topic falls back to the main thread.
 */
import { createReadStream, existsSync } from 'node:fs';
import { type Api, InputFile, InputMediaBuilder } from 'grammy';
import type { InputMediaDocument, InputMediaPhoto, Message, MessageEntity } from 'grammy/types';
import {
  buildCaption,
  CAPTION_MAX_LENGTH,
  type Caption,
  codePointLength,
  MESSAGE_TEXT_MAX_LENGTH,
  plainCaption,
  shortCaption,
  truncateText,
} from '../core/caption.js';
import type { PlannedItem, PlannedMessage } from '../core/message-plan.js';
import type { ReportFile } from '../core/report.js';
import { escapeHtml } from '../core/text-table.js';
import type { FileSentAs, OutboxStore } from '../store/outbox-store.js';
import { FencedError, StateUnavailableError } from '../store/sql-database.js';
import { classifySendError, SendFailure } from './send-failure.js';

export interface SendTarget {
  chatId: number;
  threadId: number | null;
}

export interface ReportContent {
  subject: string;
  link: string | null;
  files: ReportFile[];
  /** The caption's link label in the recipient's language. */
  linkLabel: string;
  /** The text that names files the group does not let the bot send, in the recipient's language. */
  filesNotAllowedNotice?: (filenames: readonly string[]) => string;
  /** A TEXT report's monospace table (the plan's `table` message), or null. */
  textTable?: string | null;
}

/** How a message went out after the group refused a kind of content. */
export type MissingRightFallback = 'as documents' | 'as a text naming the files';

export interface SendObserver {
  /** The chat refused `right` ("photos", "documents"); the message went out `fallback` instead. */
  onMissingRight?: (right: string, fallback: MissingRightFallback) => void;
}

/** Options of every Bot API call that carries a message of the report. */
export interface SendFlags {
  /** `disable_notification`: the message arrives without sound (QUIET_HOURS). */
  silent?: boolean;
  /** `allow_paid_broadcast`: counted against the paid 1000/s limit, billed in Stars (TELEGRAM_PAID_BROADCAST). */
  paidBroadcast?: boolean;
}

/** The Bot API fields for `flags` (none when off, so the calls stay as they were). */
function flagFields(flags: SendFlags): { disable_notification?: true; allow_paid_broadcast?: true } {
  return {
    ...(flags.silent ? { disable_notification: true } : {}),
    ...(flags.paidBroadcast ? { allow_paid_broadcast: true } : {}),
  };
}

export interface LearntFileId {
  sha256: string;
  sentAs: FileSentAs;
  fileId: string;
}

/** A caption in Telegram HTML: its text escaped, its `text_link` entities as `<a href>` (none when `plain`). */
export function captionHtml(caption: Caption, plain: boolean): string {
  const links = plain ? [] : [...caption.entities].sort((a, b) => a.offset - b.offset);
  let html = '';
  let at = 0;
  for (const link of links) {
    if (link.offset < at) continue;
    html += escapeHtml(caption.text.slice(at, link.offset));
    const label = caption.text.slice(link.offset, link.offset + link.length);
    html += `<a href="${escapeHtml(link.url)}">${escapeHtml(label)}</a>`;
    at = link.offset + link.length;
  }
  return html + escapeHtml(caption.text.slice(at));
}

/** Characters the Bot API's multipart reader treats specially in an unquoted file name. */
export function uploadFileName(filename: string): string {
  // the real server reads an unquoted name up to ';' and URL-decodes it (telegram.md §4)
  return filename.replace(/[;%"\\/\r\n]/g, '_');
}

/**
 * Simpler captions to fall back to, in order, after Telegram refused one; at most `maxLength` characters
 * (a caption's 1024, or what a table message leaves).
 */
function captionAt(level: number, content: ReportContent, maxLength = CAPTION_MAX_LENGTH): Caption | null {
  switch (level) {
    case 0:
      return buildCaption({
        subject: content.subject,
        link: content.link,
        linkLabel: content.linkLabel,
        maxLength,
      });
    case 1:
      return plainCaption(content.subject, content.link, maxLength);
    case 2:
      return shortCaption(content.subject, Math.min(200, maxLength));
    default:
      return null;
  }
}

/** The file an item sends: a report file, or one tile of it. */
/** The file (or tile) a planned item sends. */
export function fileOf(files: readonly ReportFile[], item: PlannedItem): ReportFile | undefined {
  const file = files[item.fileIndex];
  return item.tile === undefined ? file : file?.tiles?.[item.tile];
}

function toEntities(caption: Caption | null): MessageEntity[] | undefined {
  if (!caption || caption.entities.length === 0) return undefined;
  return caption.entities.map((entity) => ({ ...entity }) as MessageEntity);
}

export class ReportSender {
  constructor(
    private readonly api: Api,
    private readonly outbox: OutboxStore,
  ) {}

  /**
   * Sends `message` and returns the file_ids Telegram issued for uploaded files. Throws a SendFailure
   * when the remedies above do not help.
   */
  async send(
    target: SendTarget,
    message: PlannedMessage,
    content: ReportContent,
    observer: SendObserver = {},
    flags: SendFlags = {},
  ): Promise<LearntFileId[]> {
    const extra = flagFields(flags);
    let captionLevel = 0;
    let photosAsDocuments = false;
    let filesAsText = false;
    let forceUpload = false;
    let threadId = target.threadId;
    for (;;) {
      try {
        const caption =
          message.kind === 'notice' || message.withCaption
            ? captionAt(captionLevel, content, this.captionRoom(message, content))
            : null;
        if (message.kind === 'table') {
          await this.sendTable(target.chatId, threadId, content, caption, captionLevel > 0);
          return [];
        }
        if (filesAsText && message.kind !== 'notice') {
          await this.sendFilesAsText(
            target.chatId,
            threadId,
            message,
            content,
            caption,
            captionLevel > 0,
            extra,
          );
          return [];
        }
        return await this.attempt(target.chatId, threadId, message, content, {
          caption,
          plainNotice: captionLevel > 0,
          photosAsDocuments,
          forceUpload,
          extra,
        });
      } catch (error) {
        // the state (file ids) could not be read: nothing was sent, and it is no failure of the send
        if (error instanceof StateUnavailableError || error instanceof FencedError) throw error;
        const failure = classifySendError(error);
        // the group's permissions refuse photos or documents: the chat is not gone, send what it takes
        if (failure.kind === 'missing-right' && message.kind !== 'notice' && message.kind !== 'table') {
          const right = failure.details.right ?? '';
          if (/photo/i.test(right) && !photosAsDocuments && this.hasPhotos(message)) {
            photosAsDocuments = true;
            observer.onMissingRight?.(right, 'as documents');
            continue;
          }
          if (/photo|document/i.test(right) && !filesAsText && content.filesNotAllowedNotice) {
            filesAsText = true;
            observer.onMissingRight?.(right, 'as a text naming the files');
            continue;
          }
        }
        if (failure.kind === 'caption-rejected' && captionLevel < 3) {
          captionLevel++;
          continue;
        }
        if (failure.kind === 'file-id-rejected' && !forceUpload) {
          forceUpload = true;
          continue;
        }
        if (failure.kind === 'photo-rejected' && !photosAsDocuments && this.hasPhotos(message)) {
          photosAsDocuments = true;
          continue;
        }
        if (failure.kind === 'thread-not-found' && threadId !== null) {
          threadId = null;
          continue;
        }
        throw failure;
      }
    }
  }

  /** The room for the caption: a table message holds the caption, a blank line and the table. */
  private captionRoom(message: PlannedMessage, content: ReportContent): number {
    if (message.kind !== 'table') return CAPTION_MAX_LENGTH;
    const tableLength = codePointLength(content.textTable ?? '');
    return Math.max(0, Math.min(CAPTION_MAX_LENGTH, MESSAGE_TEXT_MAX_LENGTH - tableLength - 2));
  }

  /**
   * A TEXT report's table: the caption, a blank line, and the table in `<pre>`, with HTML parse mode.
   * Every character of the subject, the link and the table is escaped, so no cell can end the block or
   * add markup; the 4096-character limit counts the text after parsing, which the plan made fit.
   */
  private async sendTable(
    chatId: number,
    threadId: number | null,
    content: ReportContent,
    caption: Caption | null,
    plain: boolean,
  ): Promise<void> {
    if (!content.textTable) throw new SendFailure('other', 'the plan sends a table the report does not have');
    const head = caption && caption.text !== '' ? `${captionHtml(caption, plain)}\n\n` : '';
    await this.api.sendMessage(chatId, `${head}<pre>${escapeHtml(content.textTable)}</pre>`, {
      ...(threadId !== null ? { message_thread_id: threadId } : {}),
      parse_mode: 'HTML',
      link_preview_options: { is_disabled: true },
    });
  }

  /** The caption and a text naming the message's files. */
  private async sendFilesAsText(
    chatId: number,
    threadId: number | null,
    message: Extract<PlannedMessage, { kind: 'single' | 'album' }>,
    content: ReportContent,
    caption: Caption | null,
    plain: boolean,
    extra: ReturnType<typeof flagFields>,
  ): Promise<void> {
    const items = message.kind === 'single' ? [message.item] : message.items;
    const names = items.map((item) => fileOf(content.files, item)?.filename ?? `file ${item.fileIndex + 1}`);
    const notice = content.filesNotAllowedNotice!(names);
    const text = caption ? `${caption.text}\n\n${notice}` : notice;
    const entities = caption && !plain ? toEntities(caption) : undefined;
    await this.api.sendMessage(chatId, truncateText(text, MESSAGE_TEXT_MAX_LENGTH), {
      ...extra,
      ...(threadId !== null ? { message_thread_id: threadId } : {}),
      ...(entities ? { entities } : {}),
      link_preview_options: { is_disabled: true },
    });
  }

  private hasPhotos(message: PlannedMessage): boolean {
    if (message.kind === 'single') return message.item.as === 'photo';
    if (message.kind === 'album') return message.items.some((item) => item.as === 'photo');
    return false;
  }

  private async attempt(
    chatId: number,
    threadId: number | null,
    message: PlannedMessage,
    content: ReportContent,
    options: {
      caption: Caption | null;
      plainNotice: boolean;
      photosAsDocuments: boolean;
      forceUpload: boolean;
      extra: ReturnType<typeof flagFields>;
    },
  ): Promise<LearntFileId[]> {
    const thread = { ...options.extra, ...(threadId !== null ? { message_thread_id: threadId } : {}) };
    const captionFields = options.caption
      ? { caption: options.caption.text, caption_entities: toEntities(options.caption) }
      : {};
    if (message.kind === 'table') throw new SendFailure('other', 'a table message is not sent as files');
    if (message.kind === 'notice') {
      const entities = options.plainNotice ? undefined : (message.entities as MessageEntity[]);
      await this.api.sendMessage(chatId, message.text, {
        ...thread,
        ...(entities && entities.length > 0 ? { entities } : {}),
        link_preview_options: { is_disabled: true },
      });
      return [];
    }
    const items = (message.kind === 'single' ? [message.item] : message.items).map(
      (item): PlannedItem => (options.photosAsDocuments ? { ...item, as: 'document' } : item),
    );
    const sources: Array<Awaited<ReturnType<ReportSender['source']>>> = [];
    for (const item of items) sources.push(await this.source(content.files, item, options.forceUpload));
    if (items.length === 1) {
      const item = items[0]!;
      const source = sources[0]!;
      const sent =
        item.as === 'photo'
          ? await this.api.sendPhoto(chatId, source.media, { ...thread, ...captionFields })
          : await this.api.sendDocument(chatId, source.media, { ...thread, ...captionFields });
      return this.learn([sent], items, sources);
    }
    const media = items.map((item, index) => {
      const extra = index === 0 ? captionFields : {};
      return item.as === 'photo'
        ? (InputMediaBuilder.photo(sources[index]!.media, extra) as InputMediaPhoto)
        : (InputMediaBuilder.document(sources[index]!.media, extra) as InputMediaDocument);
    });
    const sent = await this.api.sendMediaGroup(
      chatId,
      media as InputMediaPhoto[] | InputMediaDocument[],
      thread,
    );
    return this.learn(sent, items, sources);
  }

  /** A file_id when one is known (and not refused), otherwise the spooled file for upload. */
  private async source(
    files: ReportFile[],
    item: PlannedItem,
    forceUpload: boolean,
  ): Promise<{ media: string | InputFile; uploaded: boolean; file: ReportFile }> {
    const file = fileOf(files, item);
    if (!file)
      throw new SendFailure(
        'other',
        `the plan refers to file ${item.fileIndex}${item.tile !== undefined ? ` tile ${item.tile}` : ''}, which the report does not have`,
      );
    const known = forceUpload ? null : await this.outbox.fileId(file.sha256, item.as);
    if (known) return { media: known, uploaded: false, file };
    if (!existsSync(file.path)) {
      throw new SendFailure('other', `the spooled file ${file.filename} is gone (spool cleaned up?)`);
    }
    // a supplier, not a stream: grammY can open it again if the request is repeated
    return {
      media: new InputFile(() => createReadStream(file.path), uploadFileName(file.filename)),
      uploaded: true,
      file,
    };
  }

  private learn(
    sent: Message[],
    items: PlannedItem[],
    sources: Array<{ uploaded: boolean; file: ReportFile }>,
  ): LearntFileId[] {
    const learnt: LearntFileId[] = [];
    items.forEach((item, index) => {
      const source = sources[index]!;
      const message = sent[index];
      if (!source.uploaded || !message) return;
      const fileId =
        item.as === 'photo'
          ? [...(message.photo ?? [])].sort((a, b) => b.width * b.height - a.width * a.height)[0]?.file_id
          : message.document?.file_id;
      if (fileId) learnt.push({ sha256: source.file.sha256, sentAs: item.as, fileId });
    });
    return learnt;
  }
}
