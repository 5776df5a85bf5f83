/**
 * What the bot takes from a report's HTML body: the dashboard link and a short description.
 * Superset's body is `<div>{description}</div><br><b><a href="{url}">{CTA}</a></b><p></p>{table}{images}`;
 * the CTA is "Explore in Superset" unless an admin changed EMAIL_REPORTS_CTA.
 *
 * The body comes from anyone who can send mail, so the work per body is bounded: one streaming pass of
 * htmlparser2 (a tokenizer that looks at each character once) over the first 256 K characters, fed in chunks,
 * that stops early when the element nesting or the element count goes past what any real report has. htmlparser2 keeps its open
 * elements in an array it shifts at the front, so unbounded nesting would cost quadratic time: the depth
 * cap is what keeps a body of 400,000 unclosed `<div>` linear.
 */
import { Parser } from 'htmlparser2';

/** Longest description kept, in characters. */
const DESCRIPTION_LENGTH = 300;
/** Plain text kept from the start of the body (whitespace collapsed); the description is cut from it. */
const TEXT_KEPT = 4 * DESCRIPTION_LENGTH;
/** Text kept of one anchor, enough to recognise "Explore in Superset". */
const ANCHOR_TEXT_KEPT = 200;
/** Links kept (the candidates for the caption button). */
const MAX_LINKS = 20;
/**
 * Characters of the body looked at. Superset's link and description sit in its first kilobyte (a TEXT
 * report's table comes after the link), so this only cuts hostile or unusual bodies short.
 */
export const MAX_HTML_SCANNED = 256 * 1024;
/** Open elements past which the rest of the body is ignored (a Superset body nests about 5 deep). */
export const MAX_ELEMENT_DEPTH = 64;
/** Elements past which the rest of the body is ignored (a Superset body has a few dozen before its table). */
export const MAX_ELEMENTS = 50_000;
/** Characters handed to the parser at a time. */
const CHUNK_CHARACTERS = 16 * 1024;

/** Elements whose content is not text a reader sees. */
const HIDDEN = new Set(['script', 'style', 'head', 'title', 'template']);
/** Elements that do not break a word: `Explore in <b>Superset</b>` reads as one phrase. */
const INLINE = new Set([
  'a',
  'abbr',
  'b',
  'bdi',
  'bdo',
  'cite',
  'code',
  'em',
  'font',
  'i',
  'kbd',
  'mark',
  'q',
  's',
  'small',
  'span',
  'strong',
  'sub',
  'sup',
  'time',
  'u',
  'var',
]);

/** Shortens text to `length` characters at a word boundary, adding an ellipsis. */
function shorten(text: string, length: number): string {
  const codePoints = [...text];
  if (codePoints.length <= length) return text;
  const cut = codePoints.slice(0, length - 1).join('');
  const space = cut.lastIndexOf(' ');
  return `${(space > length * 0.7 ? cut.slice(0, space) : cut).trimEnd()}…`;
}

export interface HtmlSummary {
  /** The preferred link (see {@link HtmlSummary.links}), or null when the body has no http(s) link. */
  link: string | null;
  description: string;
  /**
   * Every distinct http(s) link of the body, "Explore in Superset" ones first, then the others in
   * document order; at most 20. The caller may pick the first one under a trusted address instead.
   */
  links: string[];
}

interface Anchor {
  href: string;
  text: string;
  /** Length of the body text before the anchor. */
  textAt: number;
}

/** Whether an anchor's text is Superset's default call to action. */
function isCallToAction(text: string): boolean {
  return /explore in superset/i.test(text);
}

/**
 * Reads an HTML body piece by piece, as its part is decoded, and keeps only what the summary needs:
 * the start of the text and the links. Each `write` costs time linear in its piece, so a body that
 * arrives in chunks never holds the event loop for long; past the caps, writes are ignored.
 */
export class HtmlSummarizer {
  private text = '';
  private readonly anchors: Anchor[] = [];
  private open: Anchor | null = null;
  private hidden = 0;
  private depth = 0;
  private elements = 0;
  private scanned = 0;
  private stopped = false;
  private readonly parser: Parser;

  constructor() {
    this.parser = new Parser(
      {
        onopentag: (name, attributes) => this.openTag(name, attributes),
        onclosetag: (name) => this.closeTag(name),
        ontext: (data) => {
          if (!this.stopped && this.hidden === 0) this.addText(data);
        },
      },
      { decodeEntities: true, lowerCaseTags: true, lowerCaseAttributeNames: true },
    );
  }

  /** Feeds the next piece of the body. */
  write(html: string): void {
    for (let offset = 0; offset < html.length && !this.stopped; offset += CHUNK_CHARACTERS) {
      const room = MAX_HTML_SCANNED - this.scanned;
      if (room <= 0) {
        this.stop();
        return;
      }
      const piece = html.slice(offset, offset + Math.min(CHUNK_CHARACTERS, room));
      this.scanned += piece.length;
      this.parser.write(piece);
    }
  }

  /** Ends the body and tells the link, the links and the description. */
  end(): HtmlSummary {
    if (!this.stopped) {
      this.stopped = true;
      this.parser.end();
    }
    this.closeAnchor();
    const callsToAction = this.anchors.filter((anchor) => isCallToAction(anchor.text));
    const chosen = callsToAction[0] ?? this.anchors[0];
    const links = [...new Set([...callsToAction, ...this.anchors].map((anchor) => anchor.href))].slice(
      0,
      MAX_LINKS,
    );
    // the description sits before the link; without a link the body's text is the description
    const before = chosen ? this.text.slice(0, chosen.textAt) : this.text;
    return { link: chosen?.href ?? null, description: shorten(before.trim(), DESCRIPTION_LENGTH), links };
  }

  /** Ignores the rest of the body (htmlparser2 stops its tokenizer at once). */
  private stop(): void {
    this.stopped = true;
    this.parser.pause();
  }

  private openTag(name: string, attributes: Record<string, string>): void {
    if (this.stopped) return;
    this.depth++;
    this.elements++;
    if (this.depth > MAX_ELEMENT_DEPTH || this.elements > MAX_ELEMENTS) {
      this.stop();
      return;
    }
    if (HIDDEN.has(name)) this.hidden++;
    // an unclosed <head> ends where the body starts
    if (name === 'body') this.hidden = 0;
    if (name === 'a') {
      this.closeAnchor();
      const href = (attributes.href ?? '').trim();
      if (/^https?:\/\//i.test(href))
        this.open = { href, text: '', textAt: Math.min(this.text.length, TEXT_KEPT) };
    } else if (!INLINE.has(name)) this.breakWord();
  }

  private closeTag(name: string): void {
    if (this.stopped) return;
    this.depth = Math.max(0, this.depth - 1);
    if (HIDDEN.has(name)) this.hidden = Math.max(0, this.hidden - 1);
    if (name === 'a') this.closeAnchor();
    else if (!INLINE.has(name)) this.breakWord();
  }

  /** Adds text to the body text (and the open anchor's), collapsing whitespace, within the caps. */
  private addText(raw: string): void {
    const wantBody = this.text.length < TEXT_KEPT;
    const wantAnchor = this.open !== null && this.open.text.length < ANCHOR_TEXT_KEPT;
    if (!wantBody && !wantAnchor) return;
    // a text node can be long: only its start can matter
    const piece = (raw.length > 4 * TEXT_KEPT ? raw.slice(0, 4 * TEXT_KEPT) : raw).replace(
      /[\s\u00a0]+/g,
      ' ',
    );
    if (wantBody) this.text += this.text.endsWith(' ') && piece.startsWith(' ') ? piece.slice(1) : piece;
    if (wantAnchor && this.open) this.open.text += piece;
  }

  private breakWord(): void {
    if (this.text.length < TEXT_KEPT && this.text.length > 0 && !this.text.endsWith(' ')) this.text += ' ';
    if (this.open && !this.open.text.endsWith(' ')) this.open.text += ' ';
  }

  private closeAnchor(): void {
    if (this.open && this.anchors.length < 4 * MAX_LINKS) this.anchors.push(this.open);
    this.open = null;
  }
}

/**
 * The dashboard link ("Explore in Superset", else the first http(s) link), the other links, and the
 * text before the chosen link as the description.
 */
export function summarizeHtml(html: string): HtmlSummary {
  const summarizer = new HtmlSummarizer();
  summarizer.write(html);
  return summarizer.end();
}

/** The start of a plain-text body, piece by piece; its description is its first words. */
export class TextSummarizer {
  private text = '';

  write(text: string): void {
    const room = 4 * TEXT_KEPT - this.text.length;
    if (room > 0) this.text += text.slice(0, room);
  }

  end(): HtmlSummary {
    return summarizeText(this.text);
  }
}

/** The description of a plain-text body. */
export function summarizeText(text: string): HtmlSummary {
  const start = text.length > 4 * TEXT_KEPT ? text.slice(0, 4 * TEXT_KEPT) : text;
  return {
    link: null,
    description: shorten(start.replace(/\s+/g, ' ').trim(), DESCRIPTION_LENGTH),
    links: [],
  };
}
