/**
 * Reads a PNG's pixel size from the first bytes of the file, so the message plan can tell whether
 * Telegram will take the image as a photo. Plain bytes in, numbers out: no I/O here.
 */

/** The eight bytes every PNG file starts with (PNG spec §5.2). */
const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] as const;

/** "IHDR" in ASCII: the chunk type that must come first (PNG spec §5.6). */
const IHDR_TYPE = [0x49, 0x48, 0x44, 0x52] as const;

/** IHDR's data is always 13 bytes: width, height, bit depth, colour type, compression, filter, interlace. */
const IHDR_DATA_LENGTH = 13;

/** Signature (8) + chunk length (4) + chunk type (4) + width (4) + height (4). */
export const PNG_HEADER_BYTES = 24;

/** PNG dimensions are 31-bit: 0 and anything above 2^31-1 are invalid (PNG spec §11.2.2). */
const PNG_MAX_DIMENSION = 0x7fff_ffff;

/** Pixel size of an image. */
export interface ImageDimensions {
  width: number;
  height: number;
}

/**
 * Width and height from a PNG's IHDR chunk, or null when `head` is not the start of a valid PNG.
 *
 * @param head the first bytes of the file; at least {@link PNG_HEADER_BYTES} (24) are needed, more are ignored.
 * @returns null when the signature is wrong, the first chunk is not a 13-byte IHDR, the input is too
 *   short, or a dimension is 0 or above 2^31-1.
 */
export function readPngDimensions(head: Uint8Array): ImageDimensions | null {
  if (head.length < PNG_HEADER_BYTES) return null;
  if (!PNG_SIGNATURE.every((byte, index) => head[index] === byte)) return null;

  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  if (view.getUint32(8) !== IHDR_DATA_LENGTH) return null;
  if (!IHDR_TYPE.every((byte, index) => head[12 + index] === byte)) return null;

  const width = view.getUint32(16);
  const height = view.getUint32(20);
  if (!isValidDimension(width) || !isValidDimension(height)) return null;
  return { width, height };
}

function isValidDimension(value: number): boolean {
  return value >= 1 && value <= PNG_MAX_DIMENSION;
}
