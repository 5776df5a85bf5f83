/**
 * What the bot takes from a report's HTML body: the dashboard link and a short description.
 * Superset's body is `<div>{description}</div><br><b><a href="{url}">{CTA}</a></b><p></p>{table}{images}`;
 * the CTA is "Explore in Superset" unless an admin changed EMAIL_REPORTS_CTA.
 */

/** Longest description kept, in characters. */
const DESCRIPTION_LENGTH = 300;

const NAMED_ENTITIES: Record<string, string> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  nbsp: ' ',
  laquo: '«',
  raquo: '»',
  mdash: '—',
  ndash: '–',
  hellip: '…',
};

/**
 * Decodes the HTML entities a Superset body carries (numeric ones and the common named ones).
 * A full HTML parser would be a large dependency for two fields.
 */
export function decodeHtmlEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (match, entity: string) => {
    if (entity.startsWith('#')) {
      const code =
        entity[1] === 'x' || entity[1] === 'X'
          ? Number.parseInt(entity.slice(2), 16)
          : Number(entity.slice(1));
      return Number.isInteger(code) && code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : match;
    }
    return NAMED_ENTITIES[entity.toLowerCase()] ?? match;
  });
}

/** Plain text of an HTML fragment: tags, scripts and styles dropped, entities decoded, whitespace collapsed. */
export function htmlToText(html: string): string {
  return decodeHtmlEntities(
    html
      .replace(/<(script|style|head)\b[\s\S]*?<\/\1\s*>/gi, ' ')
      .replace(/<br\s*\/?>|<\/(p|div|tr|li|h\d)>/gi, '\n')
      .replace(/<[^>]*>/g, ' '),
  )
    .replace(/[ \t\r\f\v\u00a0]+/g, ' ')
    .replace(/\s*\n\s*/g, '\n')
    .trim();
}

interface Anchor {
  href: string;
  text: string;
  index: number;
}

function anchors(html: string): Anchor[] {
  const found: Anchor[] = [];
  const pattern = /<a\b([^>]*)>([\s\S]*?)<\/a\s*>/gi;
  for (let match = pattern.exec(html); match; match = pattern.exec(html)) {
    const href = /\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))/i.exec(match[1] ?? '');
    const url = decodeHtmlEntities((href?.[1] ?? href?.[2] ?? href?.[3] ?? '').trim());
    if (/^https?:\/\//i.test(url))
      found.push({ href: url, text: htmlToText(match[2] ?? ''), index: match.index });
  }
  return found;
}

/** Shortens text to `length` characters at a word boundary, adding an ellipsis. */
function shorten(text: string, length: number): string {
  const codePoints = [...text];
  if (codePoints.length <= length) return text;
  const cut = codePoints.slice(0, length - 1).join('');
  const space = cut.lastIndexOf(' ');
  return `${(space > length * 0.7 ? cut.slice(0, space) : cut).trimEnd()}…`;
}

export interface HtmlSummary {
  link: string | null;
  description: string;
}

/** The dashboard link ("Explore in Superset", else the first http(s) link) and the text before it. */
export function summarizeHtml(html: string): HtmlSummary {
  const links = anchors(html);
  const cta = links.find((anchor) => /explore in superset/i.test(anchor.text)) ?? links[0];
  const before = cta ? html.slice(0, cta.index) : html;
  // the description sits before the link; without a link the body's text is the description
  const description = shorten(htmlToText(before).replace(/\n+/g, ' ').trim(), DESCRIPTION_LENGTH);
  return { link: cta?.href ?? null, description };
}

/** The description of a plain-text body. */
export function summarizeText(text: string): HtmlSummary {
  return { link: null, description: shorten(text.replace(/\s+/g, ' ').trim(), DESCRIPTION_LENGTH) };
}
