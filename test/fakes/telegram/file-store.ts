/**
 * Files the fake server has received: issues `file_id`s (random, long, per upload) and
 * `file_unique_id`s (stable per content and kind), resolves ids sent back by the bot, and lets a
 * test revoke ids so the bot has to upload again.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Audio, Document, PhotoSize, Video } from 'grammy/types';
import { badRequest } from './bot-api-error.js';
import type { ImageSize } from './image-size.js';

/** What kind of file an id stands for; a file can only be re-sent as its own kind. */
export type FileKind = 'document' | 'photo' | 'video' | 'audio';

/** TDLib's `FileType` names, used in "can't use file of type X as Y". */
const TDLIB_TYPE_NAMES: Record<FileKind, string> = {
  document: 'Document',
  photo: 'Photo',
  video: 'Video',
  audio: 'Audio',
};

/** Prefixes that make ids look like the real ones of each type (cosmetic). */
const FILE_ID_PREFIXES: Record<FileKind, string> = {
  document: 'BQACAgIAAxkDAAI',
  photo: 'AgACAgIAAxkDAAI',
  video: 'BAACAgIAAxkDAAI',
  audio: 'CQACAgIAAxkDAAI',
};

/** One stored upload: what a file_id (or, for photos, any of its sizes' ids) resolves to. */
export interface StoredFile {
  kind: FileKind;
  sha256: string;
  size: number;
  fileName?: string;
  mimeType?: string;
  /** The Bot API object a message carries: `Document`, `PhotoSize[]`, `Video` or `Audio`. */
  document?: Document;
  photo?: PhotoSize[];
  video?: Video;
  audio?: Audio;
}

/** The outcome of {@link FileStore.lookup}. */
export type FileLookup = { status: 'ok'; file: StoredFile } | { status: 'unknown' } | { status: 'revoked' };

/** Long sides of the scaled copies Telegram keeps of a photo (s, m, x, y, w). */
const PHOTO_SIZE_STEPS = [90, 320, 800, 1280, 2560];

export class FileStore {
  private readonly byFileId = new Map<string, StoredFile>();
  private readonly revoked = new Set<string>();

  /** Stores an uploaded document and returns its record. */
  storeDocument(data: { sha256: string; size: number; fileName: string; mimeType: string }): StoredFile {
    const fileId = this.newFileId('document');
    const document: Document = {
      file_id: fileId,
      file_unique_id: uniqueId('document', data.sha256),
      file_name: data.fileName,
      mime_type: data.mimeType,
      file_size: data.size,
    };
    const stored: StoredFile = { kind: 'document', ...data, document };
    this.byFileId.set(fileId, stored);
    return stored;
  }

  /** Stores an uploaded video or audio file (no media probing: zero duration and size). */
  storeMedia(
    kind: 'video' | 'audio',
    data: { sha256: string; size: number; fileName: string; mimeType: string },
  ) {
    const fileId = this.newFileId(kind);
    const common = {
      file_id: fileId,
      file_unique_id: uniqueId(kind, data.sha256),
      file_name: data.fileName,
      mime_type: data.mimeType,
      file_size: data.size,
      duration: 0,
    };
    const stored: StoredFile =
      kind === 'video'
        ? { kind, ...data, video: { ...common, width: 0, height: 0 } }
        : { kind, ...data, audio: common };
    this.byFileId.set(fileId, stored);
    return stored;
  }

  /**
   * Stores an uploaded photo: scaled copies with long sides 90, 320, 800, 1280 and 2560 px, up to
   * the original size, ascending. Each size gets its own file_id; every one of them re-sends the
   * whole photo.
   */
  storePhoto(data: { sha256: string; size: number; image: ImageSize }): StoredFile {
    const { width, height } = data.image;
    const longSide = Math.max(width, height);
    const sides = PHOTO_SIZE_STEPS.filter((step) => step < longSide);
    if (longSide <= PHOTO_SIZE_STEPS.at(-1)!) sides.push(longSide);
    else if (!sides.includes(2560)) sides.push(2560);
    const stored: StoredFile = { kind: 'photo', sha256: data.sha256, size: data.size, photo: [] };
    for (const side of sides) {
      const scale = side / longSide;
      const scaledWidth = Math.max(1, Math.round(width * scale));
      const scaledHeight = Math.max(1, Math.round(height * scale));
      const fileId = this.newFileId('photo');
      stored.photo!.push({
        file_id: fileId,
        file_unique_id: uniqueId('photo', `${data.sha256}:${side}`),
        width: scaledWidth,
        height: scaledHeight,
        // a recompressed JPEG: roughly proportional to the pixel count, never above the upload
        file_size: Math.max(
          1,
          Math.round(data.size * Math.min(1, (scaledWidth * scaledHeight) / (width * height))),
        ),
      });
      this.byFileId.set(fileId, stored);
    }
    return stored;
  }

  /**
   * Looks up a file_id the bot sent back for a field of kind `expected`. An id of another kind gives
   * TDLib's `can't use file of type X as Y` (TDLib reads the type from the id itself, so this is
   * checked before anything is sent); unknown and revoked ids are reported to the caller, which
   * words them per method.
   */
  lookup(fileId: string, expected: FileKind): FileLookup {
    const stored = this.byFileId.get(fileId);
    if (stored === undefined) return { status: 'unknown' };
    if (stored.kind !== expected) {
      throw badRequest(
        `can't use file of type ${TDLIB_TYPE_NAMES[stored.kind]} as ${TDLIB_TYPE_NAMES[expected]}`,
      );
    }
    if (this.revoked.has(fileId)) return { status: 'revoked' };
    return { status: 'ok', file: stored };
  }

  /** What a file_id (any of a photo's sizes' ids) was issued for, revoked or not; undefined if never issued. */
  stored(fileId: string): StoredFile | undefined {
    return this.byFileId.get(fileId);
  }

  /** Makes one file_id unusable (as if it expired); returns false if the id was never issued. */
  revoke(fileId: string): boolean {
    if (!this.byFileId.has(fileId)) return false;
    this.revoked.add(fileId);
    return true;
  }

  /** Makes every issued file_id unusable; returns how many were revoked. */
  revokeAll(): number {
    for (const fileId of this.byFileId.keys()) this.revoked.add(fileId);
    return this.byFileId.size;
  }

  private newFileId(kind: FileKind): string {
    return FILE_ID_PREFIXES[kind] + randomBytes(48).toString('base64url');
  }
}

/** Stable per content: the same bytes uploaded twice get the same file_unique_id. */
function uniqueId(kind: FileKind, contentKey: string): string {
  const digest = createHash('sha256').update(`${kind}:${contentKey}`).digest('base64url');
  return `AQAD${digest.slice(0, 14)}`;
}

/** MIME type the server reports for a document, from the file name's extension. */
export function mimeTypeFor(fileName: string, partContentType: string): string {
  const extension = /\.([A-Za-z0-9]+)$/.exec(fileName)?.[1]?.toLowerCase();
  const byExtension: Record<string, string> = {
    pdf: 'application/pdf',
    png: 'image/png',
    jpg: 'image/jpeg',
    jpeg: 'image/jpeg',
    gif: 'image/gif',
    webp: 'image/webp',
    txt: 'text/plain',
    csv: 'text/csv',
    html: 'text/html',
    json: 'application/json',
    zip: 'application/zip',
    xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
    docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
    mp4: 'video/mp4',
    mp3: 'audio/mpeg',
  };
  if (extension !== undefined && byExtension[extension] !== undefined) return byExtension[extension];
  const declared = partContentType.split(';')[0]?.trim().toLowerCase();
  return declared && declared !== 'application/octet-stream' ? declared : 'application/octet-stream';
}
