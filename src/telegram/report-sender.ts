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
  type Caption,
  MESSAGE_TEXT_MAX_LENGTH,
  plainCaption,
  shortCaption,
  truncateText,
} from '../core/caption.js';
import type { PlannedItem, PlannedMessage } from '../core/message-plan.js';
import type { ReportFile } from '../core/report.js';
import type { FileSentAs, OutboxStore } from '../store/outbox-store.js';
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
}

/** How a message went out after the group refused a kind of content. */
export type MissingRightFallback = 'as documents' | 'as a text naming the files';

export interface SendObserver {
  /** The chat refused `right` ("photos", "documents"); the message went out `fallback` instead. */
  onMissingRight?: (right: string, fallback: MissingRightFallback) => void;
}

export interface LearntFileId {
  sha256: string;
  sentAs: FileSentAs;
  fileId: string;
}

/** Characters the Bot API's multipart reader treats specially in an unquoted file name. */
export function uploadFileName(filename: string): string {
  // the real server reads an unquoted name up to ';' and URL-decodes it (telegram.md §4)
  return filename.replace(/[;%"\\/\r\n]/g, '_');
}

/** Simpler captions to fall back to, in order, after Telegram refused one. */
function captionAt(level: number, content: ReportContent): Caption | null {
  switch (level) {
    case 0:
      return buildCaption({ subject: content.subject, link: content.link, linkLabel: content.linkLabel });
    case 1:
      return plainCaption(content.subject, content.link);
    case 2:
      return shortCaption(content.subject);
    default:
      return null;
  }
}

/** The file an item sends: a report file, or one tile of it. */
function fileOf(files: readonly ReportFile[], item: PlannedItem): ReportFile | undefined {
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
  ): Promise<LearntFileId[]> {
    let captionLevel = 0;
    let photosAsDocuments = false;
    let filesAsText = false;
    let forceUpload = false;
    let threadId = target.threadId;
    for (;;) {
      try {
        const caption =
          message.kind === 'notice' || message.withCaption ? captionAt(captionLevel, content) : null;
        if (filesAsText && message.kind !== 'notice') {
          await this.sendFilesAsText(target.chatId, threadId, message, content, caption, captionLevel > 0);
          return [];
        }
        return await this.attempt(target.chatId, threadId, message, content, {
          caption,
          plainNotice: captionLevel > 0,
          photosAsDocuments,
          forceUpload,
        });
      } catch (error) {
        const failure = classifySendError(error);
        // the group's permissions refuse photos or documents: the chat is not gone, send what it takes
        if (failure.kind === 'missing-right' && message.kind !== 'notice') {
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

  /** The caption (when the message carries it) and a text naming the message's files. */
  private async sendFilesAsText(
    chatId: number,
    threadId: number | null,
    message: Exclude<PlannedMessage, { kind: 'notice' }>,
    content: ReportContent,
    caption: Caption | null,
    plain: boolean,
  ): Promise<void> {
    const items = message.kind === 'single' ? [message.item] : message.items;
    const names = items.map((item) => fileOf(content.files, item)?.filename ?? `file ${item.fileIndex + 1}`);
    const notice = content.filesNotAllowedNotice!(names);
    const text = caption ? `${caption.text}\n\n${notice}` : notice;
    const entities = caption && !plain ? toEntities(caption) : undefined;
    await this.api.sendMessage(chatId, truncateText(text, MESSAGE_TEXT_MAX_LENGTH), {
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
    },
  ): Promise<LearntFileId[]> {
    const thread = threadId !== null ? { message_thread_id: threadId } : {};
    const captionFields = options.caption
      ? { caption: options.caption.text, caption_entities: toEntities(options.caption) }
      : {};
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
    const sources = items.map((item) => this.source(content.files, item, options.forceUpload));
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
  private source(
    files: ReportFile[],
    item: PlannedItem,
    forceUpload: boolean,
  ): { media: string | InputFile; uploaded: boolean; file: ReportFile } {
    const file = fileOf(files, item);
    if (!file)
      throw new SendFailure(
        'other',
        `the plan refers to file ${item.fileIndex}${item.tile !== undefined ? ` tile ${item.tile}` : ''}, which the report does not have`,
      );
    const known = forceUpload ? null : this.outbox.fileId(file.sha256, item.as);
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
