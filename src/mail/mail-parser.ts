/**
 * Turns one raw mail into a ParsedMail, streaming: the message flows through mailsplit (the MIME
 * splitter imapflow itself is built on) and each part of a forwarded type (FORWARD_FILE_TYPES: PDF,
 * PNG, CSV, XLSX, ZIP) is decoded straight into a spool file; a TEXT report's table is read from the
 * HTML body and kept as text, or written to the spool as a CSV when it is too big for a message.
 * Nothing holds the whole mail or a whole file in memory, so a 50 MB PDF costs a few MB of RAM.
 *
 * Why not postal-mime's `parse()` for this: it reads the whole message and every decoded attachment
 * into memory (measured +373 MB RSS for a mail with a 50 MB PDF); postal-mime still decodes the headers
 * (`decodeWords`, `addressParser`).
 */
import { createHash, randomUUID } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';
import { type Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { TextDecoder } from 'node:util';
import { Splitter } from '@zone-eu/mailsplit';
import { addressParser, decodeWords } from 'postal-mime';
import {
  DEFAULT_FORWARD_FILE_TYPES,
  type ForwardFileType,
  type ParsedMail,
  type ReportFile,
  type SkippedPart,
  type TextTable,
} from '../core/report.js';
import type { SenderEvidence } from '../core/sender-auth.js';
import { monospaceTable, tableToCsv, withoutRangeIndex } from '../core/text-table.js';
import { DkimVerification, type DnsResolver } from './dkim-verification.js';
import { type FilePartOutcome, FilePartReader, reportFileNames } from './file-part-reader.js';
import { HtmlSummarizer, type HtmlSummary, MAX_HTML_SCANNED, TextSummarizer } from './html-summary.js';
import { MAX_TABLE_HTML, type TableReading, TextTableReader } from './text-table-reader.js';

export interface MailParserOptions {
  /** Directory that receives this mail's files; created when the first file is written. */
  spoolDir: string;
  /** A part of a forwarded type larger than this (decoded bytes) is skipped as too large. */
  maxFileBytes: number;
  /**
   * FORWARD_FILE_TYPES: the kinds of file kept (others are skipped with the reason) and whether a TEXT
   * report's table is forwarded (`text`). Default `pdf`, `png`.
   */
  forwardTypes?: readonly ForwardFileType[];
  /** A mail larger than this (raw bytes) stops being read; what was read so far is kept. */
  maxMailBytes?: number;
  /**
   * Verify the mail's DKIM signatures as it streams by (SENDER_AUTH=dkim), looking the keys up with
   * this resolver (node:dns when it is not given). Without it, `evidence.dkim` is null.
   */
  dkim?: { resolver?: DnsResolver } | null;
}

/**
 * The mail's own bytes cannot be read (empty, no header lines, a header past the splitter's limit):
 * reading them again gives the same answer. Every other error of `parseMail` (the source stream,
 * the spool's disk) is not about the mail and may pass.
 */
export class UnreadableMailError extends Error {
  constructor(
    message: string,
    /** Hash of the raw input, so the same input is recognised again. */
    readonly rawSha256?: string,
  ) {
    super(message);
    this.name = 'UnreadableMailError';
  }
}

/** Multipart levels followed; parts nested deeper are ignored (a crafted mail can nest thousands). */
export const MAX_NESTING_DEPTH = 50;
/** Leaf parts examined; the rest of a mail with more parts is ignored. */
export const MAX_PARTS = 500;
/**
 * The body bytes read for the link and description: enough for the characters the summary looks at
 * (MAX_HTML_SCANNED, up to 4 bytes each). Superset bodies are a few KB.
 */
const MAX_BODY_BYTES = 4 * MAX_HTML_SCANNED;
/** The HTML body bytes read for a TEXT report's table (its characters are capped by MAX_TABLE_HTML). */
const MAX_TABLE_BODY_BYTES = 2 * MAX_TABLE_HTML;
/** Headers of which at least one must open an e-mail; random bytes have none of them. */
const KNOWN_HEADERS = new Set([
  'from',
  'to',
  'cc',
  'subject',
  'date',
  'message-id',
  'mime-version',
  'content-type',
  'received',
  'return-path',
  'delivered-to',
  'sender',
  'reply-to',
]);
/**
 * Characters of a Subject or From value decoded and parsed. Real ones are under 1 KB; decoding and
 * address parsing cost time in proportion to the length, and a header can be 2 MB.
 */
const MAX_HEADER_VALUE = 16 * 1024;
/** A Date header longer than this is not a date. */
const MAX_DATE_LENGTH = 200;
/** Largest piece of raw mail handed to the MIME splitter at once (see RawMeter). */
const PIECE_BYTES = 64 * 1024;

type MimeNode = {
  root: boolean;
  multipart: string | false;
  contentType: string | false;
  disposition: string | false;
  filename: string | false;
  charset: string | false;
  parentNode: MimeNode | false;
  headers: { getFirst(key: string): string; get(key: string): string[]; getList(): Array<{ key: string }> };
  getDecoder(): Transform;
};

/** One leaf part being read: the body (summarised as it streams) or a file part (file-part-reader.ts). */
class PartReader {
  readonly declaredType: string;
  readonly filename: string | null;
  private readonly decoder: Transform;
  private readonly done: Promise<void>;
  /** For the body: its text is decoded and summarised as it arrives, never held whole. */
  private body: {
    decoder: TextDecoder;
    summarizer: HtmlSummarizer | TextSummarizer;
    table: TextTableReader | null;
  } | null = null;
  /** For any other part: sniffed, spooled when forwarded, judged at the end. */
  private readonly file: FilePartReader | null = null;
  private bodyBytes = 0;
  private failure: Error | null = null;

  constructor(
    readonly node: MimeNode,
    readonly isBody: boolean,
    spool: () => string,
    maxFileBytes: number,
    forward: ReadonlySet<ForwardFileType>,
  ) {
    this.declaredType = (node.contentType || 'text/plain').toLowerCase();
    this.filename = node.filename || null;
    if (isBody) {
      const html = this.declaredType === 'text/html';
      this.body = {
        decoder: textDecoderFor(node.charset),
        summarizer: html ? new HtmlSummarizer() : new TextSummarizer(),
        table: html ? new TextTableReader() : null,
      };
    } else {
      this.file = new FilePartReader({
        declaredType: this.declaredType,
        filename: this.filename,
        spool,
        maxFileBytes,
        forward,
      });
    }
    this.decoder = node.getDecoder();
    this.decoder.on('data', (chunk: Buffer) => this.take(chunk));
    this.done = new Promise((resolve) => {
      this.decoder.on('end', resolve);
      this.decoder.on('error', (error: Error) => {
        // a broken encoding ends the part; what was decoded so far is judged like any other part
        this.failure = error;
        resolve();
      });
    });
  }

  write(chunk: Buffer): void {
    this.decoder.write(chunk);
  }

  private take(chunk: Buffer): void {
    if (this.body) {
      const limit = this.body.table ? MAX_TABLE_BODY_BYTES : MAX_BODY_BYTES;
      if (this.bodyBytes < limit) {
        const text = this.body.decoder.decode(chunk, { stream: true });
        if (this.bodyBytes < MAX_BODY_BYTES) this.body.summarizer.write(text);
        this.body.table?.write(text);
      }
      this.bodyBytes += chunk.length;
      return;
    }
    this.file?.write(chunk);
  }

  /** Ends the part and tells what it is. */
  async finish(): Promise<PartOutcome> {
    this.decoder.end();
    await this.done;
    if (this.body) {
      // the last bytes of a multi-byte character held back by the streaming decoder
      const rest = this.body.decoder.decode();
      this.body.summarizer.write(rest);
      this.body.table?.write(rest);
      return {
        kind: 'body',
        type: this.declaredType,
        summary: this.body.summarizer.end(),
        table: this.body.table?.end() ?? null,
      };
    }
    return this.file!.finish(this.failure);
  }

  /** Drops whatever was written (the parse failed as a whole). */
  abandon(): void {
    this.file?.abandon();
  }
}

type PartOutcome =
  | { kind: 'body'; type: string; summary: HtmlSummary; table: TableReading | null }
  | FilePartOutcome;

/** A streaming decoder for the body's charset; an unknown label reads as UTF-8 rather than lose the body. */
function textDecoderFor(charset: string | false): TextDecoder {
  try {
    // Node's TextDecoder knows the WHATWG encodings (windows-1251, koi8-r, iso-8859-x, ...)
    return new TextDecoder(charset || 'utf-8');
  } catch {
    return new TextDecoder('utf-8');
  }
}

function depthOf(node: MimeNode): number {
  let depth = 0;
  for (let parent = node.parentNode; parent; parent = parent.parentNode) depth++;
  return depth;
}

/** A header value with RFC 2047 words decoded; undecodable words are kept as they are. */
function decodeHeader(value: string): string {
  try {
    return decodeWords(value.slice(0, MAX_HEADER_VALUE));
  } catch {
    return value;
  }
}

function parseDate(value: string): string | null {
  // a real Date is about 40 characters; the comment-stripping pattern below is quadratic in the length
  if (!value || value.length > MAX_DATE_LENGTH) return null;
  const time = Date.parse(value.replace(/\s*\([^)]*\)\s*$/, ''));
  return Number.isFinite(time) ? new Date(time).toISOString() : null;
}

/**
 * The first address of a raw (undecoded) From value. postal-mime's parser decodes RFC 2047 words in
 * display names itself; decoding the whole value first would let a display name such as
 * `=?utf-8?q?=3Creports=40company.example=3E?=` become the address, while DKIM (mailauth) reads the
 * real one after it. RFC 2047 forbids encoded words in an address, so an address that is not written
 * plainly in the raw value (postal-mime conjures one from a lone encoded word) counts as missing.
 */
function parseFrom(value: string): string | null {
  if (!value) return null;
  const raw = value.slice(0, MAX_HEADER_VALUE);
  try {
    for (const entry of addressParser(raw)) {
      const mailbox = 'group' in entry && entry.group ? entry.group[0] : entry;
      if (!mailbox?.address?.includes('@')) continue;
      const address = mailbox.address.toLowerCase();
      return raw.toLowerCase().includes(address) ? address : null;
    }
  } catch {
    // an unparsable From header counts as missing
  }
  return null;
}

/**
 * Counts and hashes the raw bytes on their way to the splitter, and tees them into the DKIM verifier
 * when there is one; stops at the size cap.
 */
class RawMeter extends Transform {
  size = 0;
  truncated = false;
  private readonly hash = createHash('sha256');

  constructor(
    private readonly limit: number,
    private readonly tee: DkimVerification | null,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error) => void): void {
    this.size += chunk.length;
    this.hash.update(chunk);
    if (this.size > this.limit) {
      // keep hashing for the fingerprint, but stop feeding the parser
      this.truncated = true;
      callback();
      return;
    }
    this.passOn(chunk).then(() => callback(), callback);
  }

  /**
   * Hands the chunk on in pieces of at most PIECE_BYTES with a turn of the event loop between them: an
   * IMAP download can arrive as one multi-megabyte chunk, and every stage after this one (MIME splitting,
   * base64, HTML) works a chunk at a time, so the pieces bound how long each holds the event loop.
   */
  private async passOn(chunk: Buffer): Promise<void> {
    for (let offset = 0; offset < chunk.length; offset += PIECE_BYTES) {
      if (offset > 0) await new Promise((resolve) => setImmediate(resolve));
      const piece = chunk.subarray(offset, offset + PIECE_BYTES);
      this.push(piece);
      if (this.tee) await this.tee.write(piece);
    }
  }

  digest(): string {
    return this.hash.digest('hex');
  }
}

/**
 * Parses a raw mail from a stream. Files go into `options.spoolDir`; the caller owns that directory
 * (and removes it when the mail is not recorded).
 *
 * @throws UnreadableMailError when the input is not an e-mail at all.
 */
export async function parseMail(source: Readable, options: MailParserOptions): Promise<ParsedMail> {
  const dkim = options.dkim ? new DkimVerification(options.dkim.resolver) : null;
  const meter = new RawMeter(options.maxMailBytes ?? Number.POSITIVE_INFINITY, dkim);
  const splitter = new Splitter({ ignoreEmbedded: true, maxHeadSize: 2 * 1024 * 1024 });
  const forward = new Set(options.forwardTypes ?? DEFAULT_FORWARD_FILE_TYPES);
  let spoolReady = false;
  const spool = () => {
    if (!spoolReady) {
      mkdirSync(options.spoolDir, { recursive: true, mode: 0o700 });
      spoolReady = true;
    }
    return options.spoolDir;
  };

  let rootHeaders: MimeNode['headers'] | null = null;
  let headerLines = 0;
  let current: PartReader | null = null;
  const readers: PartReader[] = [];
  const outcomes: PartOutcome[] = [];
  const skippedStructure: SkippedPart[] = [];
  let leafCount = 0;
  let tooDeep = false;
  let tooMany = false;
  let htmlBodySeen = false;
  let textBodySeen = false;

  const finishCurrent = async () => {
    if (!current) return;
    const reader = current;
    current = null;
    outcomes.push(await reader.finish());
  };

  const sink = new Writable({
    objectMode: true,
    write(data: { type: string; value?: Buffer } & Partial<MimeNode>, _encoding, callback) {
      const handle = async () => {
        if (data.type === 'node') {
          await finishCurrent();
          const node = data as unknown as MimeNode;
          if (node.root) {
            rootHeaders = node.headers;
            headerLines = node.headers.getList().filter((line) => KNOWN_HEADERS.has(line.key)).length;
          }
          if (node.multipart) return;
          if (depthOf(node) > MAX_NESTING_DEPTH) {
            if (!tooDeep) {
              tooDeep = true;
              skippedStructure.push({
                filename: null,
                contentType: 'multipart',
                reason: `nesting deeper than ${MAX_NESTING_DEPTH} levels: the parts below were ignored`,
              });
            }
            return;
          }
          leafCount++;
          if (leafCount > MAX_PARTS) {
            if (!tooMany) {
              tooMany = true;
              skippedStructure.push({
                filename: null,
                contentType: 'multipart',
                reason: `too many parts: only the first ${MAX_PARTS} were read`,
              });
            }
            return;
          }
          const type = (node.contentType || 'text/plain').toLowerCase();
          const isAttachment = node.disposition === 'attachment' || Boolean(node.filename);
          let isBody = false;
          if (!isAttachment && type === 'text/html' && !htmlBodySeen) isBody = htmlBodySeen = true;
          else if (!isAttachment && type === 'text/plain' && !textBodySeen) isBody = textBodySeen = true;
          current = new PartReader(node, isBody, spool, options.maxFileBytes, forward);
          readers.push(current);
        } else if (data.type === 'body' && current && data.value) {
          current.write(data.value);
        }
      };
      handle().then(() => callback(), callback);
    },
    final(callback) {
      finishCurrent().then(() => callback(), callback);
    },
  });

  try {
    await pipeline(source, meter, splitter, sink);
  } catch (error) {
    for (const reader of readers) reader.abandon();
    dkim?.abort();
    // the splitter's size limits are about the bytes themselves: the same mail fails the same way
    // every time. Anything else (the download, the disk) may work on the next attempt.
    if ((error as { code?: string }).code === 'EMAXLEN') {
      throw new UnreadableMailError(`not readable: ${(error as Error).message}`);
    }
    throw error;
  }

  const rawSha256 = meter.digest();
  if (meter.size === 0) throw new UnreadableMailError('not an e-mail: the input is empty', rawSha256);
  if (!rootHeaders || headerLines === 0) {
    dkim?.abort();
    for (const reader of readers) reader.abandon();
    throw new UnreadableMailError(
      'not an e-mail: no mail header (From, Subject, Date, ...) found',
      rawSha256,
    );
  }
  const headers = rootHeaders as MimeNode['headers'];
  const evidence: SenderEvidence = {
    fromAddresses: headerValues(headers, 'from').reduce((sum, value) => sum + countAddresses(value), 0),
    authenticationResults: headerValues(headers, 'authentication-results'),
    dkim: null,
  };
  if (dkim) {
    try {
      evidence.dkim = await dkim.finish();
    } catch (error) {
      for (const reader of readers) reader.abandon();
      throw error;
    }
  }

  let html: HtmlSummary | null = null;
  let plain: HtmlSummary | null = null;
  let table: TableReading | null = null;
  const files: Array<Omit<ReportFile, 'filename'> & { declaredName: string | null }> = [];
  const skipped: SkippedPart[] = [];
  for (const outcome of outcomes) {
    if (outcome.kind === 'body') {
      if (outcome.type === 'text/html') {
        html = outcome.summary;
        table = outcome.table;
      } else plain = outcome.summary;
    } else if (outcome.kind === 'skipped') {
      skipped.push(outcome.part);
    } else {
      files.push({
        declaredName: outcome.declaredName,
        contentType: outcome.type,
        size: outcome.size,
        sha256: outcome.sha256,
        path: outcome.path,
        ...(outcome.width !== undefined ? { width: outcome.width, height: outcome.height } : {}),
      });
    }
  }
  skipped.push(...skippedStructure);
  if (meter.truncated) {
    skipped.push({
      filename: null,
      contentType: 'message/rfc822',
      reason: `mail too large: ${meter.size} bytes, over the ${options.maxMailBytes}-byte limit; the rest was not read`,
    });
  }

  const first = (key: string): string => (headerValues(headers, key)[0] ?? '').slice(0, MAX_HEADER_VALUE);
  const subject = decodeHeader(first('subject')).replace(/\s+/g, ' ').trim();
  const textTable = table
    ? textTableOf(table, subject, forward, options.maxFileBytes, spool, files, skipped)
    : null;
  const names = reportFileNames(
    files.map((file) => ({ declaredName: file.declaredName, type: file.contentType })),
  );
  if (textTable?.delivery === 'document') textTable.csvFilename = names.at(-1)!;
  const summary: HtmlSummary = html ?? plain ?? { link: null, description: '', links: [] };
  const messageId = first('message-id').replace(/^<|>$/g, '').trim();
  return {
    subject,
    from: parseFrom(first('from')),
    date: parseDate(first('date')),
    messageId: messageId || null,
    link: summary.link,
    links: summary.links,
    description: summary.description,
    files: files.map(({ declaredName: _declared, ...file }, index) => ({ ...file, filename: names[index]! })),
    textTable,
    skipped,
    rawSize: meter.size,
    rawSha256,
    evidence,
  };
}

/**
 * What becomes of a TEXT report's table: not forwarded (FORWARD_FILE_TYPES lacks `text`; a skipped entry
 * says so), a monospace message when it fits, or a CSV written to the spool and appended to `files`.
 */
function textTableOf(
  reading: TableReading,
  subject: string,
  forward: ReadonlySet<ForwardFileType>,
  maxFileBytes: number,
  spool: () => string,
  files: Array<Omit<ReportFile, 'filename'> & { declaredName: string | null }>,
  skipped: SkippedPart[],
): TextTable {
  const grid = withoutRangeIndex(reading.grid);
  const shape = {
    columns: grid.cells[0]?.length ?? 0,
    rows: grid.cells.length - grid.headerRows,
    truncated: reading.truncated,
  };
  if (!forward.has('text')) {
    skipped.push({
      filename: null,
      contentType: 'text/html',
      reason: 'TEXT report (a table in the body): not forwarded, FORWARD_FILE_TYPES has no text',
    });
    return { ...shape, delivery: 'not-forwarded', monospace: null };
  }
  if (reading.truncated) {
    skipped.push({
      filename: null,
      contentType: 'text/html',
      reason: `TEXT report table cut at ${shape.rows} rows and ${shape.columns} columns (the parser's limits): the rest of the body was not read`,
    });
  }
  // a cut table goes as CSV: a message would show a partial table as if whole
  const monospace = reading.truncated ? null : monospaceTable(grid);
  if (monospace !== null) return { ...shape, delivery: 'message', monospace };
  const csv = tableToCsv(grid);
  // Superset names its own CSV after the report ("<name>.csv"); the subject is that name behind the prefix
  const name = subject.replace(/^\[[^\]]*\]\s*/, '') || null;
  if (csv.length > maxFileBytes) {
    skipped.push({
      filename: name,
      contentType: 'text/csv',
      reason: `too large: ${csv.length} bytes, over the ${maxFileBytes}-byte limit`,
      tooLargeBytes: csv.length,
    });
    return { ...shape, delivery: 'not-forwarded', monospace: null };
  }
  const filePath = path.join(spool(), `${randomUUID()}.part`);
  const fd = openSync(filePath, 'wx', 0o600);
  try {
    writeSync(fd, csv);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  files.push({
    declaredName: name,
    contentType: 'text/csv',
    size: csv.length,
    sha256: createHash('sha256').update(csv).digest('hex'),
    path: filePath,
  });
  return { ...shape, delivery: 'document', monospace: null };
}

/** The values of every header `key` of the root, unfolded, in order (top first). */
function headerValues(headers: MimeNode['headers'], key: string): string[] {
  return headers.get(key).map((line) => {
    const colon = line.indexOf(':');
    return line
      .slice(colon + 1)
      .replace(/\r?\n[ \t]/g, ' ')
      .trim();
  });
}

/** How many addresses a raw From value names (groups count their members); see {@link parseFrom}. */
function countAddresses(value: string): number {
  try {
    return addressParser(value.slice(0, MAX_HEADER_VALUE)).reduce(
      (sum, entry) => sum + ('group' in entry && entry.group ? entry.group.length : entry.address ? 1 : 0),
      0,
    );
  } catch {
    return 0;
  }
}
