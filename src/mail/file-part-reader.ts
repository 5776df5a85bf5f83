/**
 * One file part on its way in, whichever way it came (a mail's MIME part, a file of Superset's webhook
 * POST): its bytes are fed piece by piece, recognised by their first bytes (content-sniffing.ts), kept
 * in a spool file only when FORWARD_FILE_TYPES forwards that kind, checked complete at the end, and
 * then either kept as a report file or skipped with the reason. Both ways in use this one class, so
 * what is forwarded, what is skipped and why cannot differ between mail and webhook.
 *
 * Nothing is held whole: the head (SNIFF_BYTES), a tail (ZIP_TAIL_BYTES at most) and a running hash.
 */
import { createHash, randomUUID } from 'node:crypto';
import { closeSync, fsyncSync, openSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { readPngDimensions } from '../core/png-header.js';
import {
  FORWARD_NAME_OF,
  type ForwardFileType,
  type ReportFileType,
  type SkippedPart,
} from '../core/report.js';
import {
  CsvTextCheck,
  classifyZip,
  describeContent,
  pdfIsComplete,
  pngIsComplete,
  SNIFF_BYTES,
  type SniffedContent,
  sniffContent,
  ZIP_TAIL_BYTES,
} from './content-sniffing.js';
import { fileNameFor, uniqueFileNames } from './file-naming.js';

/** How many bytes at the end of a non-ZIP file are kept to check it is complete. */
const TAIL_BYTES = 1024;

/** What a file part turned out to be once read to its end. `sha256` is over every byte of the part. */
export type FilePartOutcome =
  | { kind: 'skipped'; part: SkippedPart; sha256: string }
  | {
      kind: 'file';
      declaredName: string | null;
      type: ReportFileType;
      size: number;
      sha256: string;
      /** The spool file, fsynced and closed. */
      path: string;
      width?: number;
      height?: number;
    };

export interface FilePartOptions {
  /** The part's declared Content-Type, lower-cased (only a hint). */
  declaredType: string;
  /** The part's declared file name (only a hint), or null. */
  filename: string | null;
  /** The spool directory, created on first use. */
  spool: () => string;
  /** A forwarded kind of part larger than this is skipped as too large (recipients get a notice). */
  maxFileBytes: number;
  /** FORWARD_FILE_TYPES. */
  forward: ReadonlySet<ForwardFileType>;
}

/** Reads one file part; see the module comment. Feed it with `write`, then call `finish` once. */
export class FilePartReader {
  private head = Buffer.alloc(0);
  /** Chunks held back until the first bytes are seen. */
  private pending: Buffer[] = [];
  private tail = Buffer.alloc(0);
  private size = 0;
  private readonly hash = createHash('sha256');
  private fd: number | null = null;
  private filePath: string | null = null;
  /**
   * A ZIP keeps its last ZIP_TAIL_BYTES (its central directory), other parts TAIL_BYTES. Until the first
   * bytes are seen the part may be a ZIP, so the larger: a whole small archive can come in one chunk.
   */
  private tailBytes = ZIP_TAIL_BYTES;
  /** For a part declared CSV that reads as text: the check that it is UTF-8 CSV text, piece by piece. */
  private csvCheck: CsvTextCheck | null = null;
  private sniffed: SniffedContent | null = null;
  private overCap = false;

  constructor(private readonly options: FilePartOptions) {}

  /** The next bytes of the part (written to the spool synchronously: the caller's pace is the disk's). */
  write(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.size += chunk.length;
    this.hash.update(chunk);
    this.tail = Buffer.concat([this.tail, chunk]).subarray(-this.tailBytes);
    this.csvCheck?.write(chunk);
    if (this.size > this.options.maxFileBytes) this.overCap = true;
    if (this.sniffed === null) {
      this.pending.push(chunk);
      if (this.size >= SNIFF_BYTES) this.decide();
      return;
    }
    if (this.fd === null) return;
    if (this.overCap) this.discardFile();
    else writeSync(this.fd, chunk);
  }

  /**
   * Looks at the first bytes and, for a part that may be forwarded (its sniffed kind is in
   * FORWARD_FILE_TYPES), opens a spool file and writes what was held back.
   */
  private decide(): void {
    const { forward } = this.options;
    const held = Buffer.concat(this.pending);
    this.pending = [];
    this.head = held.subarray(0, SNIFF_BYTES);
    this.sniffed = sniffContent(this.head);
    if (this.sniffed !== 'zip') {
      this.tailBytes = TAIL_BYTES;
      this.tail = this.tail.subarray(-TAIL_BYTES);
    }
    let candidate = false;
    if (this.sniffed === 'pdf' || this.sniffed === 'png') candidate = forward.has(this.sniffed);
    else if (this.sniffed === 'zip') {
      candidate = forward.has('zip') || forward.has('xlsx');
    } else if (this.sniffed === 'text' && declaredCsv(this.options.declaredType, this.options.filename)) {
      candidate = forward.has('csv');
      if (candidate) {
        this.csvCheck = new CsvTextCheck();
        this.csvCheck.write(held);
      }
    }
    if (candidate && !this.overCap) {
      this.filePath = path.join(this.options.spool(), `${randomUUID()}.part`);
      this.fd = openSync(this.filePath, 'wx', 0o600);
      writeSync(this.fd, held);
    }
  }

  private discardFile(): void {
    if (this.fd !== null) closeSync(this.fd);
    if (this.filePath) rmSync(this.filePath, { force: true });
    this.fd = null;
    this.filePath = null;
  }

  /**
   * Ends the part and tells what it is. `failure`: the part's bytes broke off (a broken transfer
   * encoding); what was read is judged, and a kind that is forwarded counts as truncated.
   */
  finish(failure: Error | null = null): FilePartOutcome {
    if (this.sniffed === null) this.decide();
    const { declaredType, filename, forward, maxFileBytes } = this.options;
    const sha256 = this.hash.digest('hex');
    const sniffed = this.sniffed ?? 'empty';
    const skip = (reason: string, tooLargeBytes?: number): FilePartOutcome => {
      this.discardFile();
      return {
        kind: 'skipped',
        sha256,
        part: {
          filename,
          contentType: declaredType,
          reason,
          ...(tooLargeBytes !== undefined ? { tooLargeBytes } : {}),
        },
      };
    };
    const declaredAs = declaredFileType(declaredType, filename);
    const type = this.forwardedType(sniffed);
    if (type === null) {
      if (sniffed === 'empty') return skip('empty part');
      if (declaredAs === 'application/pdf' && sniffed !== 'pdf')
        return skip(`not a PDF: the content is ${describeContent(sniffed)}`);
      if (declaredAs === 'image/png' && sniffed !== 'png')
        return skip(`not a PNG: the content is ${describeContent(sniffed)}`);
      if (declaredAs === 'text/csv' && forward.has('csv') && sniffed !== 'zip') {
        const problem = sniffed === 'text' ? this.csvCheck?.end() : describeContent(sniffed);
        if (problem) return skip(`not a CSV: the content is ${problem}`);
      }
      return skip(
        `${describeKind(declaredType, filename, sniffed, this.zipKind())}: only ${describeForwarded(forward)} files are forwarded`,
      );
    }
    if (this.overCap)
      return skip(`too large: ${this.size} bytes, over the ${maxFileBytes}-byte limit`, this.size);
    const incomplete = this.incompleteness(type);
    if (incomplete || failure) return skip(`truncated ${incomplete ?? describeContent(sniffed)}`);
    const dimensions = type === 'image/png' ? readPngDimensions(this.head) : null;
    if (type === 'image/png' && !dimensions) return skip('not a PNG: the image header is damaged');
    if (this.fd === null) return skip('not kept (no spool file)');
    // the bytes are on disk before the report is recorded (and, for the webhook, answered 200)
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = null;
    return {
      kind: 'file',
      declaredName: filename,
      type,
      size: this.size,
      sha256,
      path: this.filePath!,
      ...(dimensions ? { width: dimensions.width, height: dimensions.height } : {}),
    };
  }

  /** Drops whatever was written (the mail or the request failed as a whole). */
  abandon(): void {
    this.discardFile();
  }

  /** What the part is forwarded as, or null when its kind is not forwarded (or it is not what it claims). */
  private forwardedType(sniffed: SniffedContent): ReportFileType | null {
    let type: ReportFileType | null = null;
    if (sniffed === 'pdf') type = 'application/pdf';
    else if (sniffed === 'png') type = 'image/png';
    else if (sniffed === 'zip') {
      type =
        this.zipKind() === 'xlsx'
          ? 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'
          : 'application/zip';
    } else if (this.csvCheck && this.csvCheck.end() === null) type = 'text/csv';
    return type !== null && this.options.forward.has(FORWARD_NAME_OF[type]) ? type : null;
  }

  private zipKind(): 'xlsx' | 'zip' | null {
    return this.sniffed === 'zip' ? classifyZip(this.head, this.tail) : null;
  }

  /** Why a file of `type` is cut off (PDF without %%EOF, PNG without IEND, ZIP without its end record), or null. */
  private incompleteness(type: ReportFileType): string | null {
    switch (type) {
      case 'application/pdf':
        return pdfIsComplete(this.tail) ? null : 'PDF (no %%EOF marker)';
      case 'image/png':
        return pngIsComplete(this.tail) ? null : 'PNG (no IEND chunk)';
      case 'text/csv':
        return null;
      default:
        return hasZipEnd(this.tail) ? null : 'ZIP archive (no end of central directory)';
    }
  }
}

/**
 * The names the kept files of one report go by, in order: the declared name cleaned, with the right
 * extension, `<stem>-N` numbered per type when nameless, duplicates made unique.
 */
export function reportFileNames(
  files: ReadonlyArray<{ declaredName: string | null; type: ReportFileType }>,
): string[] {
  const ordinal: Partial<Record<ReportFileType, number>> = {};
  return uniqueFileNames(
    files.map((file) => {
      const nth = (ordinal[file.type] ?? 0) + 1;
      ordinal[file.type] = nth;
      return fileNameFor(file.declaredName, file.type, nth);
    }),
  );
}

function declaredFileType(type: string, filename: string | null): ReportFileType | null {
  const name = (filename ?? '').toLowerCase();
  if (type === 'application/pdf' || name.endsWith('.pdf')) return 'application/pdf';
  if (type === 'image/png' || name.endsWith('.png')) return 'image/png';
  if (declaredCsv(type, name)) return 'text/csv';
  return null;
}

/** Whether a part says it is CSV (Superset: `application/octet-stream` named `X.csv`; the webhook: `text/csv`). */
function declaredCsv(type: string, filename: string | null): boolean {
  return (
    ['text/csv', 'application/csv', 'text/comma-separated-values', 'text/x-csv'].includes(type) ||
    (filename ?? '').toLowerCase().endsWith('.csv')
  );
}

/** Whether a ZIP's last bytes hold its end-of-central-directory record (a cut-off ZIP does not). */
function hasZipEnd(tail: Buffer): boolean {
  const end = tail.subarray(Math.max(0, tail.length - 22 - 0xffff));
  for (let index = end.length - 22; index >= 0; index--) {
    if (end.readUInt32LE(index) === 0x06054b50) return true;
  }
  return false;
}

/** The forwarded kinds in words, for skip reasons: "PDF and PNG", "PDF, PNG and CSV". */
function describeForwarded(forward: ReadonlySet<ForwardFileType>): string {
  const words = [...forward].filter((type) => type !== 'text').map((type) => type.toUpperCase());
  if (words.length === 0) return 'no';
  return words.length === 1 ? words[0]! : `${words.slice(0, -1).join(', ')} and ${words.at(-1)}`;
}

function describeKind(
  type: string,
  filename: string | null,
  sniffed: SniffedContent,
  zipKind: 'xlsx' | 'zip' | null,
): string {
  const name = (filename ?? '').toLowerCase();
  if (zipKind === 'xlsx') return 'Excel workbook';
  if (sniffed === 'zip') return name.endsWith('.csv') ? 'ZIP archive named .csv' : 'ZIP archive';
  if (type === 'text/csv' || name.endsWith('.csv')) return 'CSV';
  if (type === 'message/rfc822') return 'attached e-mail message';
  if (name.endsWith('.xlsx') || type.includes('spreadsheet')) return 'Excel workbook';
  if (sniffed === 'jpeg' || sniffed === 'gif') return describeContent(sniffed);
  return type;
}
