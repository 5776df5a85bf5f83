/**
 * Reads the pixel size of an uploaded photo from its header, the way the fake server decides
 * between a photo, `PHOTO_INVALID_DIMENSIONS` and `IMAGE_PROCESS_FAILED`. PNG (IHDR) and JPEG
 * (SOFn marker) are understood; anything else counts as "not an image".
 */

export interface ImageSize {
  format: 'png' | 'jpeg';
  width: number;
  height: number;
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** The image's pixel size, or undefined when the bytes are not a PNG/JPEG with a readable header. */
export function readImageSize(bytes: Buffer): ImageSize | undefined {
  return readPngSize(bytes) ?? readJpegSize(bytes);
}

function readPngSize(bytes: Buffer): ImageSize | undefined {
  // signature, then the first chunk must be IHDR: length(4) "IHDR"(4) width(4) height(4)
  if (bytes.length < 24 || !bytes.subarray(0, 8).equals(PNG_SIGNATURE)) return undefined;
  if (bytes.toString('latin1', 12, 16) !== 'IHDR') return undefined;
  const width = bytes.readUInt32BE(16);
  const height = bytes.readUInt32BE(20);
  return width > 0 && height > 0 ? { format: 'png', width, height } : undefined;
}

function readJpegSize(bytes: Buffer): ImageSize | undefined {
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) return undefined;
  let offset = 2;
  while (offset + 4 <= bytes.length) {
    if (bytes[offset] !== 0xff) return undefined;
    const marker = bytes[offset + 1]!;
    if (marker === 0xff) {
      offset++; // fill byte
      continue;
    }
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      offset += 2; // markers without a length
      continue;
    }
    const segmentLength = bytes.readUInt16BE(offset + 2);
    // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC): precision(1) height(2) width(2)
    const isStartOfFrame =
      marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isStartOfFrame) {
      if (offset + 9 > bytes.length) return undefined;
      const height = bytes.readUInt16BE(offset + 5);
      const width = bytes.readUInt16BE(offset + 7);
      return width > 0 && height > 0 ? { format: 'jpeg', width, height } : undefined;
    }
    if (marker === 0xd9 || marker === 0xda) return undefined; // end of image / start of scan before SOF
    offset += 2 + segmentLength;
  }
  return undefined;
}
