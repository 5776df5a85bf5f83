import { crc32, deflateSync, inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { PNG_HEADER_BYTES, readPngDimensions } from '../../src/core/png-header.js';

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const typeAndData = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typeAndData));
  return Buffer.concat([length, typeAndData, crc]);
}

/** A complete, decodable 8-bit greyscale PNG: signature, IHDR, one zlib IDAT, IEND. */
function buildPng(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // colour type: greyscale
  // compression, filter, interlace: 0
  const scanlines = Buffer.alloc((width + 1) * height); // filter byte 0 + one byte per pixel, all black
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(scanlines)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** The IHDR-bearing head of a PNG with any dimensions, for sizes too big to build a whole image for. */
function pngHead(width: number, height: number): Buffer {
  const head = Buffer.from(buildPng(1, 1).subarray(0, 33));
  head.writeUInt32BE(width, 16);
  head.writeUInt32BE(height, 20);
  return head;
}

describe('readPngDimensions', () => {
  it('reads the size of a real PNG built with zlib', () => {
    const png = buildPng(37, 5);
    // the test image itself is well-formed: its IDAT inflates to height × (width + 1) bytes
    expect(inflateSync(png.subarray(41, png.length - 16)).length).toBe(5 * 38);
    expect(readPngDimensions(png)).toEqual({ width: 37, height: 5 });
  });

  it('needs only the first 24 bytes', () => {
    const png = buildPng(1600, 3);
    expect(readPngDimensions(png.subarray(0, PNG_HEADER_BYTES))).toEqual({ width: 1600, height: 3 });
    expect(readPngDimensions(png.subarray(0, PNG_HEADER_BYTES - 1))).toBeNull();
  });

  it('reads a view that does not start at offset 0 of its buffer', () => {
    const png = buildPng(12, 34);
    const backing = new Uint8Array(png.length + 7);
    backing.set(png, 7);
    expect(readPngDimensions(backing.subarray(7))).toEqual({ width: 12, height: 34 });
  });

  it('reads tall, wide and huge headers', () => {
    expect(readPngDimensions(pngHead(1600, 25_000))).toEqual({ width: 1600, height: 25_000 });
    expect(readPngDimensions(pngHead(30_000, 200))).toEqual({ width: 30_000, height: 200 });
    expect(readPngDimensions(pngHead(0x7fff_ffff, 1))).toEqual({ width: 0x7fff_ffff, height: 1 });
  });

  it('rejects zero and over-2^31-1 dimensions', () => {
    expect(readPngDimensions(pngHead(0, 10))).toBeNull();
    expect(readPngDimensions(pngHead(10, 0))).toBeNull();
    expect(readPngDimensions(pngHead(0x8000_0000, 10))).toBeNull();
    expect(readPngDimensions(pngHead(10, 0xffff_ffff))).toBeNull();
  });

  it('rejects a wrong signature', () => {
    const png = buildPng(10, 10);
    for (const index of [0, 1, 4, 7]) {
      const broken = Buffer.from(png);
      broken[index] = (broken[index]! + 1) & 0xff;
      expect(readPngDimensions(broken), `byte ${index}`).toBeNull();
    }
  });

  it('rejects a first chunk that is not a 13-byte IHDR', () => {
    const wrongLength = Buffer.from(buildPng(10, 10));
    wrongLength.writeUInt32BE(14, 8);
    expect(readPngDimensions(wrongLength)).toBeNull();

    const wrongType = Buffer.from(buildPng(10, 10));
    wrongType.write('IDAT', 12, 'ascii');
    expect(readPngDimensions(wrongType)).toBeNull();

    const lowerCase = Buffer.from(buildPng(10, 10));
    lowerCase.write('ihdr', 12, 'ascii');
    expect(readPngDimensions(lowerCase)).toBeNull();
  });

  it('rejects junk, other formats and empty input', () => {
    expect(readPngDimensions(new Uint8Array(0))).toBeNull();
    expect(readPngDimensions(new Uint8Array(64))).toBeNull();
    expect(readPngDimensions(new Uint8Array(64).fill(0xff))).toBeNull();
    expect(
      readPngDimensions(Buffer.from('%PDF-1.7\n%âãÏÓ\n1 0 obj\n<< /Type /Catalog >>\nendobj\n')),
    ).toBeNull();
    // JPEG start of image + JFIF APP0
    expect(readPngDimensions(Buffer.from('ffd8ffe000104a46494600010100000100010000', 'hex'))).toBeNull();
    expect(readPngDimensions(Buffer.from('<html><body>not a png</body></html>'))).toBeNull();
  });
});
