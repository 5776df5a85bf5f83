/**
 * Recognises a part by its bytes. Superset labels PDFs `application/octet-stream` and names its PNG
 * screenshots without an extension, so headers are only hints; the magic bytes decide.
 */

/** How many leading bytes `sniffContent` needs to see. */
export const SNIFF_BYTES = 1024;

export type SniffedContent = 'pdf' | 'png' | 'zip' | 'jpeg' | 'gif' | 'html' | 'text' | 'binary' | 'empty';

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function startsWith(head: Uint8Array, bytes: number[]): boolean {
  return head.length >= bytes.length && bytes.every((byte, index) => head[index] === byte);
}

/** Classifies content from its first bytes (up to `SNIFF_BYTES`). */
export function sniffContent(head: Uint8Array): SniffedContent {
  if (head.length === 0) return 'empty';
  if (startsWith(head, PNG_SIGNATURE)) return 'png';
  // readers accept a PDF header anywhere in the first 1024 bytes (PDF 1.7, annex H.3), but then an HTML
  // error page quoting "%PDF-" would pass too: only a BOM or whitespace may come before it
  const start = Buffer.from(head.buffer, head.byteOffset, head.byteLength).subarray(0, 64).toString('latin1');
  if (/^(\xef\xbb\xbf)?[\s]*%PDF-/.test(start)) return 'pdf';
  if (startsWith(head, [0x50, 0x4b, 0x03, 0x04]) || startsWith(head, [0x50, 0x4b, 0x05, 0x06])) return 'zip';
  if (startsWith(head, [0xff, 0xd8, 0xff])) return 'jpeg';
  if (startsWith(head, [0x47, 0x49, 0x46, 0x38])) return 'gif';
  const text = Buffer.from(head.buffer, head.byteOffset, Math.min(head.byteLength, 512)).toString('latin1');
  if (/^\s*<(!doctype html|html|head|body|div|p|table)\b/i.test(text)) return 'html';
  // printable text: no NUL and few control bytes
  let control = 0;
  for (const byte of head.subarray(0, 512)) {
    if (byte === 0) return 'binary';
    if (byte < 0x09 || (byte > 0x0d && byte < 0x20)) control++;
  }
  return control === 0 ? 'text' : 'binary';
}

/** Whether a PNG's last bytes hold the IEND chunk (a cut-off PNG does not). */
export function pngIsComplete(tail: Uint8Array): boolean {
  return Buffer.from(tail.buffer, tail.byteOffset, tail.byteLength).includes('IEND');
}

/** Whether a PDF's last 1024 bytes hold the `%%EOF` marker (a cut-off PDF does not). */
export function pdfIsComplete(tail: Uint8Array): boolean {
  const buffer = Buffer.from(tail.buffer, tail.byteOffset, tail.byteLength);
  return buffer.subarray(Math.max(0, buffer.length - 1024)).includes('%%EOF');
}

/** Words for what a sniffed part is, used in skip reasons. */
export function describeContent(content: SniffedContent): string {
  switch (content) {
    case 'zip':
      return 'ZIP archive';
    case 'jpeg':
      return 'JPEG image';
    case 'gif':
      return 'GIF image';
    case 'html':
      return 'HTML document';
    case 'text':
      return 'text';
    case 'empty':
      return 'empty';
    case 'pdf':
      return 'PDF document';
    case 'png':
      return 'PNG image';
    default:
      return 'binary data';
  }
}
