/**
 * Builds small but valid PNG files of any pixel size, for tests that upload photos (a 1-bit
 * grayscale image compresses a 10000×1 or 3000×3000 canvas into a few kilobytes).
 */
import { deflateSync } from 'node:zlib';

/** Options for {@link encodePng}. */
export interface PngOptions {
  /** Width in pixels (1–2^31−1). */
  width: number;
  /** Height in pixels (1–2^31−1). */
  height: number;
  /**
   * Bytes appended after the image data in a private `teXt` chunk, to make two PNGs of the same
   * size differ (distinct content → distinct `file_unique_id`) or to pad a file to a given size.
   * Default: none.
   */
  padding?: Buffer | string;
}

/** Encodes a white 1-bit grayscale PNG of the given size. */
export function encodePng(options: PngOptions): Buffer {
  const { width, height } = options;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`PNG size must be positive integers, got ${width}x${height}`);
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 1; // bit depth
  header[9] = 0; // color type: grayscale
  header[10] = 0; // compression
  header[11] = 0; // filter
  header[12] = 0; // interlace

  // each row: filter byte 0 + ceil(width / 8) bytes of 0xff (white)
  const rowBytes = Math.ceil(width / 8);
  const row = Buffer.alloc(rowBytes + 1, 0xff);
  row[0] = 0;
  const raw = Buffer.alloc(row.length * height);
  for (let y = 0; y < height; y++) row.copy(raw, y * row.length);

  const chunks = [
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(raw)),
    ...(options.padding === undefined
      ? []
      : [chunk('tEXt', Buffer.concat([Buffer.from('Comment\0', 'latin1'), Buffer.from(options.padding)]))]),
    chunk('IEND', Buffer.alloc(0)),
  ];
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), ...chunks]);
}

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length, 0);
  const typeAndData = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typeAndData), 0);
  return Buffer.concat([length, typeAndData, crc]);
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(bytes: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = CRC_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
