/**
 * A Report is what one Superset mail becomes: the subject, where it came from, and the PDF/PNG
 * files to forward. Plain data: no I/O here.
 */
import type { SenderEvidence } from './sender-auth.js';

/** The two kinds of file the bot forwards. */
export type ReportFileType = 'application/pdf' | 'image/png';

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
  /** Set for a PDF/PNG skipped only for its size: recipients get a notice naming it. */
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
  /** Every PDF and PNG part, in document order. */
  files: ReportFile[];
  /** Every other part, with the reason it is not forwarded. */
  skipped: SkippedPart[];
  /** Size of the raw message in bytes. */
  rawSize: number;
  /** Hex SHA-256 of the raw message. */
  rawSha256: string;
  /** What the parser learnt about who sent the mail (sender authentication). Absent on unparsed mail. */
  evidence?: SenderEvidence;
}
