/**
 * The caption under a forwarded report: the mail's subject and, when the mail had a usable one, a link
 * to the dashboard. Sent without `parse_mode`; the link is a `text_link` entity, so no character in a
 * subject can ever break parsing. Plain data: no I/O, no grammY.
 */

/** Telegram's limit for a media caption, in characters after entity parsing (Bot API `caption`). */
export const CAPTION_MAX_LENGTH = 1024;

/** Telegram's limit for a text message (Bot API `sendMessage.text`). */
export const MESSAGE_TEXT_MAX_LENGTH = 4096;

/** Appended where a text was cut. Counts as one character. */
const ELLIPSIS = '…';

/** A cut prefers a word boundary when one lies within this last share of the room for the text. */
const WORD_BOUNDARY_WINDOW = 0.2;

/**
 * A Bot API `MessageEntity` of type `text_link`: the characters `[offset, offset + length)` of the
 * caption link to `url`. Offsets and lengths are in UTF-16 code units, as the Bot API defines them.
 */
export interface CaptionEntity {
  type: 'text_link';
  offset: number;
  length: number;
  url: string;
}

/** Caption text plus its entities, ready for `caption` + `caption_entities` (or `text` + `entities`). */
export interface Caption {
  text: string;
  entities: CaptionEntity[];
}

/** What {@link buildCaption} needs. */
export interface BuildCaptionOptions {
  /** The mail's subject. Any characters; line breaks and control characters become spaces. */
  subject: string;
  /** The dashboard link from the mail, or null. Dropped unless {@link usableLink} accepts it. */
  link: string | null | undefined;
  /** The localized text that carries the link, e.g. "Открыть в Superset". */
  linkLabel: string;
  /**
   * The most characters (Unicode code points, as Telegram counts bot captions) the whole text may have.
   * Defaults to {@link CAPTION_MAX_LENGTH} (1024). A non-negative integer.
   */
  maxLength?: number;
}

/**
 * Builds `subject` + `\n` + `linkLabel`, with a `text_link` entity on the label.
 *
 * When the text would exceed `maxLength`, the subject is cut (the link line is kept) at a grapheme
 * boundary, preferably at a word boundary, and ends with "…". An empty subject gives just the link line;
 * no subject and no usable link give `''`. If the link line cannot fit next to even "…", the link is
 * dropped rather than the subject.
 */
export function buildCaption({
  subject,
  link,
  linkLabel,
  maxLength = CAPTION_MAX_LENGTH,
}: BuildCaptionOptions): Caption {
  assertLength(maxLength);
  const url = usableLink(link);
  // An empty label would make a zero-length entity, which Telegram rejects: show the URL instead.
  const label = url === null ? null : linkLabel.trim() === '' ? url : linkLabel;
  const { subjectText, linkLine } = layOut(subject, label, maxLength);
  if (linkLine === null || url === null) return { text: subjectText, entities: [] };

  const prefix = subjectText === '' ? '' : subjectText + '\n';
  return {
    text: prefix + linkLine,
    // JS string lengths are UTF-16 code units, which is exactly what entity offsets are measured in.
    entities: [{ type: 'text_link', offset: prefix.length, length: linkLine.length, url }],
  };
}

/**
 * The fallback after Telegram rejected an entity: `subject` + `\n` + the URL as plain text, no entities
 * (Telegram still makes the URL clickable). Same cutting rules as {@link buildCaption}.
 *
 * @param maxLength the most code points for the whole text; defaults to 1024.
 */
export function plainCaption(
  subject: string,
  link: string | null | undefined,
  maxLength: number = CAPTION_MAX_LENGTH,
): Caption {
  assertLength(maxLength);
  const { subjectText, linkLine } = layOut(subject, usableLink(link), maxLength);
  if (linkLine === null) return { text: subjectText, entities: [] };
  return { text: subjectText === '' ? linkLine : subjectText + '\n' + linkLine, entities: [] };
}

/**
 * Just the subject, cut to `maxLength` code points (default 200) by the same rules, without a link.
 * For places where a full caption would be noise.
 */
export function shortCaption(subject: string, maxLength = 200): Caption {
  assertLength(maxLength);
  return { text: truncateText(singleLine(subject), maxLength), entities: [] };
}

/**
 * The link, normalized (WHATWG URL serialization), when it is an absolute http(s) URL a reader can open;
 * otherwise null. Rejects hosts that only mean something on the Superset server itself: `0.0.0.0`,
 * `localhost` (and `*.localhost`), 127.0.0.0/8, `::1`, `::` and IPv4-mapped loopback — Superset's default
 * `WEBDRIVER_BASEURL_USER_FRIENDLY` is `http://0.0.0.0:8080/`.
 */
export function usableLink(url: string | null | undefined): string | null {
  if (url === null || url === undefined) return null;
  let parsed: URL;
  try {
    parsed = new URL(url.trim());
  } catch {
    return null;
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return null;
  if (parsed.hostname === '' || isServerLocalHost(parsed.hostname)) return null;
  return parsed.href;
}

/** Length as Telegram counts bot captions and texts: in Unicode code points (TDLib `utf8_length`). */
export function codePointLength(text: string): number {
  let length = 0;
  for (const _ of text) length++;
  return length;
}

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/**
 * `text` unchanged when it has at most `maxLength` code points; otherwise a prefix ending in "…" with at
 * most `maxLength` code points in all. The cut falls between grapheme clusters (never inside a surrogate
 * pair, an emoji ZWJ sequence, a flag or a letter with combining marks), at the last whitespace when one
 * lies within the last 20% of the room, and trailing whitespace before the "…" is dropped.
 */
export function truncateText(text: string, maxLength: number): string {
  assertLength(maxLength);
  if (codePointLength(text) <= maxLength) return text;
  if (maxLength === 0) return '';

  const room = maxLength - codePointLength(ELLIPSIS);
  let fitEnd = 0; // UTF-16 index after the last grapheme that fits in `room`
  let fitLength = 0; // code points up to fitEnd
  let spaceStart = -1; // UTF-16 index of the last whitespace grapheme that starts within `room`
  let spaceLength = 0; // code points before spaceStart

  for (const { segment, index } of graphemes.segment(text)) {
    if (/^\s+$/u.test(segment)) {
      spaceStart = index;
      spaceLength = fitLength;
    }
    const segmentLength = codePointLength(segment);
    if (fitLength + segmentLength > room) break;
    fitEnd = index + segment.length;
    fitLength += segmentLength;
  }

  const atWord = spaceStart >= 0 && spaceLength >= room * (1 - WORD_BOUNDARY_WINDOW);
  return text.slice(0, atWord ? spaceStart : fitEnd).trimEnd() + ELLIPSIS;
}

/**
 * Lays out the subject and an optional link line within `maxLength` code points. The subject is cut to
 * make room; the link line is dropped only when it leaves no room for even "…" + line break.
 */
function layOut(
  subject: string,
  linkLine: string | null,
  maxLength: number,
): { subjectText: string; linkLine: string | null } {
  const cleanSubject = singleLine(subject);
  let line = linkLine;
  if (line !== null) {
    const roomForLine = cleanSubject === '' ? maxLength : maxLength - 2;
    if (codePointLength(line) > roomForLine) line = null;
  }
  if (line === null) return { subjectText: truncateText(cleanSubject, maxLength), linkLine: null };
  if (cleanSubject === '') return { subjectText: '', linkLine: line };
  return { subjectText: truncateText(cleanSubject, maxLength - codePointLength(line) - 1), linkLine: line };
}

/**
 * The subject as one clean line: lone surrogates (which would make the request invalid UTF-8) become
 * U+FFFD, runs of whitespace and control characters become one space, and the ends are trimmed.
 */
function singleLine(text: string): string {
  return text
    .replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD')
    .replace(/[\s\p{Cc}]+/gu, ' ')
    .trim();
}

function isServerLocalHost(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/\.$/, '');
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  // WHATWG URL parsing already normalized IPv4 (127.1, 0x7f.0.0.1, 2130706433 → 127.0.0.1; 0 → 0.0.0.0)
  // and IPv6 (compressed, lower-case, bracketed; ::ffff:127.0.0.1 → ::ffff:7f00:1).
  if (host === '0.0.0.0' || /^127\.\d+\.\d+\.\d+$/.test(host)) return true;
  return (
    host === '[::1]' ||
    host === '[::]' ||
    host === '[::ffff:0:0]' ||
    /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(host)
  );
}

function assertLength(maxLength: number): void {
  if (!Number.isInteger(maxLength) || maxLength < 0) {
    throw new RangeError(`maxLength must be a non-negative integer, got ${maxLength}`);
  }
}
