/**
 * A Report is what one Superset mail becomes: the subject, where it came from, the files to forward
 * (PDF, PNG, and with FORWARD_FILE_TYPES also CSV, XLSX, ZIP) and a TEXT report's table. Plain data:
 * no I/O here.
 */
import type { SenderEvidence } from './sender-auth.js';

/** The kinds of file the bot forwards, recognised by their bytes. */
export type ReportFileType =
  | 'application/pdf'
  | 'image/png'
  | 'text/csv'
  | 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'
  | 'application/zip';

/**
 * What FORWARD_FILE_TYPES can name: a kind of file (`pdf`, `png`, `csv`, `xlsx`, `zip`) or `text`, a
 * TEXT report (Superset's table in the mail body).
 */
export type ForwardFileType = 'pdf' | 'png' | 'csv' | 'xlsx' | 'zip' | 'text';

/** Every {@link ForwardFileType}, in the order the docs list them. */
export const FORWARD_FILE_TYPES: readonly ForwardFileType[] = ['pdf', 'png', 'csv', 'xlsx', 'zip', 'text'];

/** The default of FORWARD_FILE_TYPES: today's behaviour, PDFs and PNG screenshots only. */
export const DEFAULT_FORWARD_FILE_TYPES: readonly ForwardFileType[] = ['pdf', 'png'];

/** The FORWARD_FILE_TYPES name of each file type. */
export const FORWARD_NAME_OF: Record<ReportFileType, ForwardFileType> = {
  'application/pdf': 'pdf',
  'image/png': 'png',
  'text/csv': 'csv',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': 'xlsx',
  'application/zip': 'zip',
};

/**
 * A TEXT report: Superset put the chart's data in the body as a pandas table (`df.to_html()`,
 * `class="dataframe"`) and attached nothing. Kept with the report, so every delivery (and a restart in
 * the middle of the fan-out) sends the very same text.
 */
export interface TextTable {
  /** Columns of the table as read (index column included; a plain 0, 1, 2… index is dropped). */
  columns: number;
  /** Data rows read (header rows not counted). */
  rows: number;
  /** The body held more table than the parser reads (see the mail parser's caps): what was read is sent. */
  truncated: boolean;
  /**
   * How it is delivered: `message` (the `monospace` text in a `<pre>` block), `document` (a generated
   * CSV among the report's files, `csvFilename`), `not-forwarded` (FORWARD_FILE_TYPES lacks `text`).
   */
  delivery: 'message' | 'document' | 'not-forwarded';
  /** The table laid out in aligned columns, when `delivery` is `message`; otherwise null. */
  monospace: string | null;
  /** The generated CSV's file name, when `delivery` is `document`. */
  csvFilename?: string;
}

/** One PDF or PNG taken from a mail, spooled to disk under DATA_DIR. */
export interface ReportFile {
  /** A safe display name with the right extension (path separators and control characters removed). */
  filename: string;
  contentType: ReportFileType;
  /** Decoded size in bytes. */
  size: number;
  /** Hex SHA-256 of the decoded bytes. */
  sha256: string;
  /** Absolute path of the spooled bytes. */
  path: string;
  /** Pixel size, read from the PNG header (PNG files only). */
  width?: number;
  height?: number;
  /**
   * PNG only, when measured at intake: the share (0–1) of its pixels in its two most common colours
   * (a dashboard's page and card backgrounds). Near 1 means a blank or unfinished screenshot: a white
   * page, or empty cards with loading spinners.
   */
  backgroundShare?: number;
  /**
   * Tall PNG only: the tiles it was cut into at intake, top to bottom, each a PNG within the photo
   * limits, spooled next to it. Absent when it is not tall, or when cutting failed (then it goes whole).
   */
  tiles?: ReportFile[];
}

/** A MIME part that is not forwarded, and why. */
export interface SkippedPart {
  filename: string | null;
  contentType: string;
  reason: string;
  /** Set for a forwarded kind of file skipped only for its size: recipients get a notice naming it. */
  tooLargeBytes?: number;
}

/** The result of parsing one mail. */
export interface ParsedMail {
  /** RFC 2047 decoded, whitespace collapsed, trimmed; '' when the mail has none. */
  subject: string;
  /** The sender's address (lower-cased), or null when the From header is missing or unreadable. */
  from: string | null;
  /** ISO 8601 date from the Date header, or null. */
  date: string | null;
  /** The Message-ID header without angle brackets, or null. */
  messageId: string | null;
  /** The dashboard link ("Explore in Superset") from the HTML body, or null. */
  link: string | null;
  /**
   * Every http(s) link of the HTML body, the "Explore in Superset" ones first (at most 20): where the
   * intake picks the first one under SUPERSET_URL. Absent on mail that was not parsed.
   */
  links?: string[];
  /** A short plain-text description taken from the body ('' when none). */
  description: string;
  /** Every part of a forwarded type (FORWARD_FILE_TYPES), in document order; a TEXT report's CSV last. */
  files: ReportFile[];
  /**
   * A TEXT report's table (Superset's `class="dataframe"` table in the HTML body), whether or not it is
   * forwarded; absent or null when the body has none. A mail with one is a report, not a notice.
   */
  textTable?: TextTable | null;
  /** Every other part, with the reason it is not forwarded. */
  skipped: SkippedPart[];
  /** Size of the raw message in bytes. */
  rawSize: number;
  /** Hex SHA-256 of the raw message. */
  rawSha256: string;
  /** What the parser learnt about who sent the mail (sender authentication). Absent on unparsed mail. */
  evidence?: SenderEvidence;
}
