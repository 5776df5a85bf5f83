/**
 * Recognises a part by its bytes. Superset labels PDFs `application/octet-stream`, names its PNG
 * screenshots without an extension and (6.0/6.1) sends ZIP bundles named `.csv`, so headers are only
 * hints; the bytes decide. Every function here takes a prefix (or suffix) of the content, so the same
 * checks serve a streamed mail part and a buffered webhook upload.
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

/** Bytes at the end of a ZIP archive {@link zipEntryNames} looks at for the central directory. */
export const ZIP_TAIL_BYTES = 64 * 1024;

/** A ZIP archive is an Excel workbook or some other archive. */
export type ZipKind = 'xlsx' | 'zip';

/**
 * Entry names of a ZIP archive, from what is in reach: the central directory found through the
 * end-of-central-directory record in `tail` (the archive's last bytes, up to {@link ZIP_TAIL_BYTES}),
 * and the local file headers that lie whole in `head` (the first bytes). Nothing is decompressed, so a
 * "ZIP bomb" costs nothing here; the archive is forwarded, never unpacked. At most `max` names.
 */
export function zipEntryNames(head: Uint8Array, tail: Uint8Array, max = 2000): string[] {
  const names = new Set<string>();
  const start = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  // local file headers: signature, fixed 30 bytes, name, extra, then the (compressed) data
  for (let offset = 0; offset + 30 <= start.length && names.size < max; ) {
    if (start.readUInt32LE(offset) !== 0x04034b50) break;
    const flags = start.readUInt16LE(offset + 6);
    const compressed = start.readUInt32LE(offset + 18);
    const nameLength = start.readUInt16LE(offset + 26);
    const extraLength = start.readUInt16LE(offset + 28);
    if (offset + 30 + nameLength > start.length) break;
    names.add(start.toString('latin1', offset + 30, offset + 30 + nameLength));
    // with a data descriptor (bit 3) the size is only known after the data: no way to the next header
    if (flags & 0x08) break;
    offset += 30 + nameLength + extraLength + compressed;
  }
  const end = Buffer.from(tail.buffer, tail.byteOffset, tail.byteLength);
  // the end record is 22 bytes plus a comment of up to 65535: search backwards for its signature
  for (let eocd = end.length - 22; eocd >= 0 && eocd >= end.length - 22 - 0xffff; eocd--) {
    if (end.readUInt32LE(eocd) !== 0x06054b50) continue;
    const directorySize = end.readUInt32LE(eocd + 12);
    let offset = eocd - directorySize;
    // the directory must lie in the tail, right before the end record
    if (offset < 0) break;
    while (offset + 46 <= eocd && names.size < max) {
      if (end.readUInt32LE(offset) !== 0x02014b50) break;
      const nameLength = end.readUInt16LE(offset + 28);
      const extraLength = end.readUInt16LE(offset + 30);
      const commentLength = end.readUInt16LE(offset + 32);
      if (offset + 46 + nameLength > eocd) break;
      names.add(end.toString('latin1', offset + 46, offset + 46 + nameLength));
      offset += 46 + nameLength + extraLength + commentLength;
    }
    break;
  }
  return [...names];
}

/**
 * An Office Open XML workbook (XLSX) is a ZIP whose entries include `[Content_Types].xml` and the
 * workbook under `xl/`; any other ZIP (Superset's CSV bundle, several XLSX zipped) is a `zip`.
 */
export function classifyZip(head: Uint8Array, tail: Uint8Array): ZipKind {
  const names = zipEntryNames(head, tail);
  const hasTypes = names.includes('[Content_Types].xml');
  const hasWorkbook = names.some((name) => name === 'xl/workbook.xml' || name.startsWith('xl/worksheets/'));
  return hasTypes && hasWorkbook ? 'xlsx' : 'zip';
}

/**
 * Checks that a part is CSV text, a piece at a time: valid UTF-8 (a byte order mark allowed), no NUL
 * or other control byte but tab, CR and LF, and not markup (an HTML page named `report.csv` is not a
 * CSV). Quoted fields may span lines; the shape of the lines is not judged beyond that, since a
 * one-column CSV is a list of lines.
 */
export class CsvTextCheck {
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });
  private started = false;
  private problem: string | null = null;

  /** Looks at the next bytes of the part. */
  write(chunk: Uint8Array): void {
    if (this.problem !== null || chunk.length === 0) return;
    let text: string;
    try {
      text = this.decoder.decode(chunk, { stream: true });
    } catch {
      this.problem = 'not UTF-8 text';
      return;
    }
    if (!this.started) {
      const start = text.replace(/^\uFEFF/, '').trimStart();
      if (start.length > 0) {
        this.started = true;
        if (/^<(!doctype|html|head|body|\?xml|!--|div|p|table|script)\b/i.test(start)) {
          this.problem = 'markup (HTML or XML), not CSV text';
          return;
        }
      }
    }
    if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text))
      this.problem = 'binary data, not CSV text';
  }

  /** Null when the part read as CSV text; otherwise why not. */
  end(): string | null {
    if (this.problem !== null) return this.problem;
    try {
      this.decoder.decode();
    } catch {
      return 'not UTF-8 text (cut inside a character)';
    }
    return this.started ? null : 'empty';
  }
}

/** Whether `bytes` (a whole file, or a buffered upload) is CSV text by the rules of {@link CsvTextCheck}. */
export function csvTextProblem(bytes: Uint8Array): string | null {
  const check = new CsvTextCheck();
  check.write(bytes);
  return check.end();
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
