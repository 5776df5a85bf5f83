/**
 * Tiles are derived files: a tile that is missing or truncated at send time (a power cut before tiles
 * were fsynced, a spool touched by hand) must never fail the delivery of the report. The message that
 * carries such tiles goes without them, the original PNG as a document in their place, so every chat
 * still gets the report.
 *
 * The rewrite is one message for one message, a pure function of the fixed plan and the broken files:
 * a delivery's progress counts messages of the plan, so a restart half-way lands on the same step.
 */
import { statSync } from 'node:fs';
import type { PlannedItem, PlannedMessage } from '../core/message-plan.js';
import type { ReportFile } from '../core/report.js';

/**
 * The indexes of the files whose tiles `step` sends and of which any tile cannot be uploaded: gone from
 * the spool, or not the size recorded. The whole image is judged, not only this message's tiles, so a
 * chat gets all of an image's tiles or none. A tile whose file_id Telegram already issued (`knownFileId`)
 * needs no file.
 */
export function filesWithBrokenTiles(
  files: readonly ReportFile[],
  step: PlannedMessage,
  knownFileId: (sha256: string) => boolean,
): Set<number> {
  const broken = new Set<number>();
  const checked = new Set<number>();
  for (const item of itemsOf(step)) {
    if (item.tile === undefined || checked.has(item.fileIndex)) continue;
    checked.add(item.fileIndex);
    const tiles = files[item.fileIndex]?.tiles ?? [];
    // a stat first: the file_id lookup is a query, and only needed for a tile the spool lost
    const usable = (tile: ReportFile) => isIntact(tile) || knownFileId(tile.sha256);
    if (item.tile >= tiles.length || !tiles.every(usable)) broken.add(item.fileIndex);
  }
  return broken;
}

function isIntact(file: ReportFile): boolean {
  try {
    const stats = statSync(file.path);
    return stats.isFile() && stats.size === file.size;
  } catch {
    return false;
  }
}

/**
 * `plan[index]` with the tiles of the `broken` files taken out. The first message of a broken file's
 * tiles carries its original as a document instead, unless the plan sends the original anyway
 * (TALL_IMAGE_MODE=tiles+document); the file's later tile messages lose those tiles. Returns null when
 * nothing is left to send for this message (its step then counts as done).
 */
export function withoutBrokenTiles(
  plan: readonly PlannedMessage[],
  index: number,
  broken: ReadonlySet<number>,
): PlannedMessage | null {
  const step = plan[index]!;
  if (step.kind !== 'single' && step.kind !== 'album') return step;
  const isBrokenTile = (item: PlannedItem) => item.tile !== undefined && broken.has(item.fileIndex);
  if (!itemsOf(step).some(isBrokenTile)) return step;
  const items: PlannedItem[] = [];
  const substituted = new Set<number>();
  for (const item of itemsOf(step)) {
    if (!isBrokenTile(item)) {
      items.push(item);
      continue;
    }
    if (substituted.has(item.fileIndex) || !isFirstTileStep(plan, index, item.fileIndex)) continue;
    substituted.add(item.fileIndex);
    if (!sendsOriginal(plan, item.fileIndex)) items.push({ fileIndex: item.fileIndex, as: 'document' });
  }
  if (items.length === 0) return null;
  // an album holds the tiles of one image (message-plan.ts groups each image's tiles apart), so what is
  // left is either that image's original or other files' items of the same kind
  if (items.length === 1) return { kind: 'single', item: items[0]!, withCaption: step.withCaption };
  return { kind: 'album', items, withCaption: step.withCaption };
}

function itemsOf(step: PlannedMessage): PlannedItem[] {
  if (step.kind === 'single') return [step.item];
  if (step.kind === 'album') return step.items;
  return [];
}

function isFirstTileStep(plan: readonly PlannedMessage[], index: number, fileIndex: number): boolean {
  const first = plan.findIndex((step) =>
    itemsOf(step).some((item) => item.fileIndex === fileIndex && item.tile !== undefined),
  );
  return first === index;
}

function sendsOriginal(plan: readonly PlannedMessage[], fileIndex: number): boolean {
  return plan.some((step) =>
    itemsOf(step).some((item) => item.fileIndex === fileIndex && item.tile === undefined),
  );
}
