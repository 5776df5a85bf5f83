/**
 * The rule that turns a report's files into Telegram messages: which file goes as a photo and which as
 * a document, how files are grouped into albums, where the caption goes, and what replaces a file too
 * big to upload. Plain data in, plain data out: the Telegram adapter executes the plan.
 */

import {
  type Caption,
  type CaptionEntity,
  codePointLength,
  MESSAGE_TEXT_MAX_LENGTH,
  truncateText,
} from './caption.js';
import type { ReportFile } from './report.js';

/**
 * How PNG reports are sent (a setting per mailbox and per group):
 * - `photo`: as a photo when Telegram accepts it as one, otherwise as a document (the default);
 * - `document`: always as a document, lossless;
 * - `both`: a preview photo (when accepted) and the original file as a document.
 * PDFs are always documents.
 */
export type MediaMode = 'photo' | 'document' | 'both';

/** The default {@link MediaMode}. */
export const DEFAULT_MEDIA_MODE: MediaMode = 'photo';

/**
 * How a PNG too tall to be a readable photo is sent (a setting per mailbox and per group), when it was
 * cut into tiles at intake:
 * - `tiles+document`: the tiles as photo albums, then the original as a document (the default);
 * - `tiles`: the tiles only;
 * - `document`: the original as a document only (the behaviour before tiles).
 * Media mode `document` (lossless always) sends the original only, whatever this says; media mode `both`
 * always adds the original.
 */
export type TallImageMode = 'tiles+document' | 'tiles' | 'document';

/** Every {@link TallImageMode}, for settings and directory columns. */
export const TALL_IMAGE_MODES: readonly TallImageMode[] = ['tiles+document', 'tiles', 'document'];

/** The default {@link TallImageMode}. */
export const DEFAULT_TALL_IMAGE_MODE: TallImageMode = 'tiles+document';

/** Telegram limits the plan respects. Every field is optional; see {@link DEFAULT_PLAN_LIMITS}. */
export interface PlanLimits {
  /** Largest file sent as a photo, in bytes. Default 10 MiB (Bot API: photos "at most 10 MB"). */
  photoMaxBytes?: number;
  /**
   * Largest file uploaded at all, in bytes; bigger files get a notice instead. Default 50 MiB (Bot API
   * cloud upload limit); raise it for a local Bot API server.
   */
  uploadMaxBytes?: number;
  /** Largest width + height of a photo, in pixels. Default 10000 (Bot API `sendPhoto`). */
  photoMaxDimensionSum?: number;
  /** Largest ratio of the longer to the shorter side of a photo. Default 20 (Bot API `sendPhoto`). */
  photoMaxRatio?: number;
  /** Most items in one album. Default 10; an integer from 2 to 10 (Bot API `sendMediaGroup`). */
  albumMax?: number;
}

/** The limits used for any field {@link PlanLimits} leaves out. */
export const DEFAULT_PLAN_LIMITS: Readonly<Required<PlanLimits>> = Object.freeze({
  photoMaxBytes: 10 * 1024 * 1024,
  uploadMaxBytes: 50 * 1024 * 1024,
  photoMaxDimensionSum: 10_000,
  photoMaxRatio: 20,
  albumMax: 10,
});

/** Telegram's own bounds on an album (`sendMediaGroup` "must include 2-10 items"). */
const ALBUM_MIN_ITEMS = 2;
const ALBUM_MAX_ITEMS = 10;

/** What {@link planMessages} needs. */
export interface PlanInput {
  /** The report's files, in document order. Indexes into this array are the plan's `fileIndex`. */
  files: ReportFile[];
  /** Parts that were not kept because they are over the upload limit; each gets a notice. */
  tooLarge: { filename: string; size: number }[];
  /** The caption for the first message of each group (see {@link PlannedMessage}). */
  caption: Caption;
  /** How PNGs are sent. */
  mediaMode: MediaMode;
  /** How a PNG that has {@link ReportFile.tiles} is sent; absent: `document` (the tiles are ignored). */
  tallImageMode?: TallImageMode;
  /** Overrides for {@link DEFAULT_PLAN_LIMITS}. */
  limits?: PlanLimits;
  /** The localized notice for a file that is too large to send, e.g. `texts(lang).tooLargeNotice`. */
  tooLargeNotice: (file: { filename: string; size: number }) => string;
  /**
   * A TEXT report's table laid out in monospace (`TextTable.monospace`), sent as one message before the
   * files; null or absent when there is none (a table too long for a message is a CSV among `files`).
   */
  textTable?: string | null;
}

/** One file in one message, and the Telegram media type it is sent as. */
export interface PlannedItem {
  /** Index into {@link PlanInput.files}. */
  fileIndex: number;
  /** Index into that file's {@link ReportFile.tiles}: the item is this tile, not the whole file. */
  tile?: number;
  as: 'photo' | 'document';
}

/**
 * One Telegram call:
 * - `table`: `sendMessage` with the report's monospace table (the report's stored text, not a copy: the
 *   plan stays small data) in a `<pre>` block, under the caption when `withCaption`;
 * - `single`: `sendPhoto` / `sendDocument`, with the caption when `withCaption`;
 * - `album`: `sendMediaGroup` with 2–10 items of one media type, the caption on `items[0]` when `withCaption`;
 * - `notice`: `sendMessage` with `text` and `entities` (the entities are the caption's when the notice
 *   carries the caption because no file could be sent; otherwise empty).
 */
export type PlannedMessage =
  | { kind: 'table'; withCaption: boolean }
  | { kind: 'single'; item: PlannedItem; withCaption: boolean }
  | { kind: 'album'; items: PlannedItem[]; withCaption: boolean }
  | { kind: 'notice'; text: string; entities: CaptionEntity[] };

/**
 * Whether Telegram will accept `file` as a photo: a PNG of at most `photoMaxBytes`, with known dimensions,
 * width + height at most `photoMaxDimensionSum`, and longer side / shorter side at most `photoMaxRatio`.
 */
export function isPhotoEligible(file: ReportFile, limits: PlanLimits = {}): boolean {
  const { photoMaxBytes, photoMaxDimensionSum, photoMaxRatio } = resolveLimits(limits);
  if (file.contentType !== 'image/png' || file.size > photoMaxBytes) return false;
  const { width, height } = file;
  if (width === undefined || height === undefined || width < 1 || height < 1) return false;
  if (width + height > photoMaxDimensionSum) return false;
  return Math.max(width, height) <= photoMaxRatio * Math.min(width, height);
}

/**
 * The messages that deliver one report to one chat, in sending order: a TEXT report's table, the photo
 * group, then the tiles of tall PNGs (see {@link TallImageMode}; each image's tiles in albums of their
 * own), then the document
 * group (PDFs and PNGs sent as documents, in document order), then one notice per file too large to send.
 * Each group is a `single` (1 item) or albums of near-equal size (11 → 6 + 5, 21 → 7 + 7 + 7); the first
 * message of each group carries the caption. No files and no `tooLarge` → `[]`.
 */
export function planMessages(input: PlanInput): PlannedMessage[] {
  const limits = resolveLimits(input.limits ?? {});
  const photos: PlannedItem[] = [];
  const tileSets: PlannedItem[][] = [];
  const documents: PlannedItem[] = [];
  const tallImageMode = input.tallImageMode ?? 'document';
  const oversized: { filename: string; size: number }[] = [];

  input.files.forEach((file, fileIndex) => {
    if (file.size > limits.uploadMaxBytes) {
      oversized.push({ filename: file.filename, size: file.size });
      return;
    }
    if (file.contentType !== 'image/png') {
      documents.push({ fileIndex, as: 'document' });
      return;
    }
    const asPhoto = input.mediaMode !== 'document' && isPhotoEligible(file, limits);
    const tiles =
      !asPhoto && input.mediaMode !== 'document' && tallImageMode !== 'document' ? (file.tiles ?? []) : [];
    // every tile must be a photo Telegram takes (a tile past 10 MB, say): otherwise the original goes whole
    const asTiles = tiles.length >= 2 && tiles.every((tile) => isPhotoEligible(tile, limits));
    if (asPhoto) photos.push({ fileIndex, as: 'photo' });
    if (asTiles) tileSets.push(tiles.map((_, tile) => ({ fileIndex, tile, as: 'photo' })));
    const withOriginal = !asTiles || tallImageMode === 'tiles+document';
    if ((!asPhoto && withOriginal) || input.mediaMode === 'both')
      documents.push({ fileIndex, as: 'document' });
  });
  oversized.push(...input.tooLarge);

  const plan = [
    ...(input.textTable ? [{ kind: 'table', withCaption: true } as const] : []),
    ...groupMessages(photos, limits.albumMax),
    // the caption goes with the first tiles only: several tall images are one report
    ...tileSets.flatMap((tiles, index) => groupMessages(tiles, limits.albumMax, index === 0)),
    ...groupMessages(documents, limits.albumMax),
  ];
  // With nothing else sent, the first notice carries the caption, so the reader still learns which report it was.
  let captionPending = plan.length === 0 && input.caption.text !== '';
  for (const file of oversized) {
    const notice = input.tooLargeNotice(file);
    if (captionPending) {
      captionPending = false;
      plan.push(captionedNotice(input.caption, notice));
    } else {
      plan.push({ kind: 'notice', text: truncateText(notice, MESSAGE_TEXT_MAX_LENGTH), entities: [] });
    }
  }
  return plan;
}

/**
 * How many messages the plan puts into the chat: an album counts as its number of items (whether Telegram
 * counts an album as one message against its rate limits is undocumented, so assume the worst).
 */
export function countMessages(plan: readonly PlannedMessage[]): number {
  return plan.reduce((count, message) => count + (message.kind === 'album' ? message.items.length : 1), 0);
}

/** Splits one media type's items into a single message or albums of near-equal size, never an album of 1. */
function groupMessages(items: PlannedItem[], albumMax: number, captioned = true): PlannedMessage[] {
  if (items.length === 0) return [];
  const chunkCount = Math.ceil(items.length / albumMax);
  const baseSize = Math.floor(items.length / chunkCount);
  const largerChunks = items.length % chunkCount; // the first chunks take one extra item each

  const messages: PlannedMessage[] = [];
  let start = 0;
  for (let chunk = 0; chunk < chunkCount; chunk++) {
    const size = baseSize + (chunk < largerChunks ? 1 : 0);
    const chunkItems = items.slice(start, start + size);
    start += size;
    const withCaption = captioned && chunk === 0;
    // A chunk of 1 only happens with albumMax 2 (3 items → 2 + 1); Telegram rejects one-item albums.
    messages.push(
      chunkItems.length === 1
        ? { kind: 'single', item: chunkItems[0]!, withCaption }
        : { kind: 'album', items: chunkItems, withCaption },
    );
  }
  return messages;
}

/** The caption, a blank line, then the notice; entity offsets stay valid because the caption comes first. */
function captionedNotice(caption: Caption, notice: string): PlannedMessage {
  const separator = '\n\n';
  const room = MESSAGE_TEXT_MAX_LENGTH - codePointLength(caption.text) - separator.length;
  return {
    kind: 'notice',
    text: caption.text + separator + truncateText(notice, Math.max(room, 0)),
    entities: caption.entities,
  };
}

function resolveLimits(limits: PlanLimits): Required<PlanLimits> {
  const resolved: Required<PlanLimits> = {
    photoMaxBytes: limits.photoMaxBytes ?? DEFAULT_PLAN_LIMITS.photoMaxBytes,
    uploadMaxBytes: limits.uploadMaxBytes ?? DEFAULT_PLAN_LIMITS.uploadMaxBytes,
    photoMaxDimensionSum: limits.photoMaxDimensionSum ?? DEFAULT_PLAN_LIMITS.photoMaxDimensionSum,
    photoMaxRatio: limits.photoMaxRatio ?? DEFAULT_PLAN_LIMITS.photoMaxRatio,
    albumMax: limits.albumMax ?? DEFAULT_PLAN_LIMITS.albumMax,
  };
  const { albumMax } = resolved;
  if (!Number.isInteger(albumMax) || albumMax < ALBUM_MIN_ITEMS || albumMax > ALBUM_MAX_ITEMS) {
    throw new RangeError(
      `albumMax must be an integer from ${ALBUM_MIN_ITEMS} to ${ALBUM_MAX_ITEMS}, got ${albumMax}`,
    );
  }
  for (const [name, value] of Object.entries(resolved)) {
    if (!(value > 0)) throw new RangeError(`${name} must be a positive number, got ${value}`);
  }
  return resolved;
}
