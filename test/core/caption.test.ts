import { describe, expect, it } from 'vitest';
import {
  buildCaption,
  CAPTION_MAX_LENGTH,
  codePointLength,
  plainCaption,
  shortCaption,
  truncateText,
  usableLink,
} from '../../src/core/caption.js';

const LINK = 'https://superset.example.com/superset/dashboard/12/';
const LABEL = 'Открыть в Superset';

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/** UTF-16 indexes at which `text` may be cut without splitting a grapheme cluster. */
function graphemeBoundaries(text: string): Set<number> {
  const boundaries = new Set<number>([text.length]);
  for (const { index } of segmenter.segment(text)) boundaries.add(index);
  return boundaries;
}

/** Checks everything a cut must satisfy and returns the kept part (without the "…"). */
function expectCleanCut(original: string, cut: string, maxLength: number): string {
  expect(codePointLength(cut)).toBeLessThanOrEqual(maxLength);
  expect(cut).not.toMatch(LONE_SURROGATE);
  expect(cut.endsWith('…')).toBe(true);
  const kept = cut.slice(0, -1);
  expect(original.startsWith(kept)).toBe(true);
  expect(graphemeBoundaries(original).has(kept.length)).toBe(true);
  return kept;
}

/** The text of the entity, as a Telegram client would underline it. */
function linkedText(caption: { text: string; entities: { offset: number; length: number }[] }): string {
  const entity = caption.entities[0]!;
  return caption.text.slice(entity.offset, entity.offset + entity.length);
}

describe('buildCaption', () => {
  it('puts the subject, a line break and the label, with a text_link entity on the label', () => {
    const caption = buildCaption({ subject: 'Weekly sales', link: LINK, linkLabel: LABEL });
    expect(caption).toEqual({
      text: `Weekly sales\n${LABEL}`,
      entities: [{ type: 'text_link', offset: 13, length: LABEL.length, url: LINK }],
    });
  });

  it('is only the subject when there is no link', () => {
    expect(buildCaption({ subject: 'Weekly sales', link: null, linkLabel: LABEL })).toEqual({
      text: 'Weekly sales',
      entities: [],
    });
    expect(buildCaption({ subject: 'Weekly sales', link: undefined, linkLabel: LABEL }).entities).toEqual([]);
  });

  it("drops a link a reader cannot open (Superset's default 0.0.0.0 base URL)", () => {
    const caption = buildCaption({
      subject: 'Weekly sales',
      link: 'http://0.0.0.0:8080/superset/dashboard/1/',
      linkLabel: LABEL,
    });
    expect(caption).toEqual({ text: 'Weekly sales', entities: [] });
  });

  it('is only the link line when the subject is empty or blank, and empty when there is neither', () => {
    for (const subject of ['', '   ', '\n\t']) {
      expect(buildCaption({ subject, link: LINK, linkLabel: LABEL })).toEqual({
        text: LABEL,
        entities: [{ type: 'text_link', offset: 0, length: LABEL.length, url: LINK }],
      });
    }
    expect(buildCaption({ subject: '', link: null, linkLabel: LABEL })).toEqual({ text: '', entities: [] });
  });

  it('uses the normalized URL for the entity', () => {
    const caption = buildCaption({
      subject: 's',
      link: '  HTTPS://Superset.Example.COM/x y  ',
      linkLabel: LABEL,
    });
    expect(caption.entities[0]!.url).toBe('https://superset.example.com/x%20y');
  });

  it('shows the URL itself when the label is empty, never a zero-length entity', () => {
    const caption = buildCaption({ subject: 'Sales', link: LINK, linkLabel: '' });
    expect(caption.text).toBe(`Sales\n${LINK}`);
    expect(linkedText(caption)).toBe(LINK);
  });

  it('keeps markup characters verbatim: there is no parse_mode to break', () => {
    const subject = 'Q3 <b>&amp; *bold* _it_ [link](x) `code` ~s~ ||sp|| \\ > # + - = | { } . !';
    const caption = buildCaption({ subject, link: LINK, linkLabel: LABEL });
    expect(caption.text).toBe(`${subject}\n${LABEL}`);
    expect(linkedText(caption)).toBe(LABEL);
  });

  it('measures entity offsets in UTF-16 code units, around emoji and astral characters', () => {
    const subject = '📊 Sales 👨‍👩‍👧‍👦 𝔘𝔫𝔦';
    const caption = buildCaption({ subject, link: LINK, linkLabel: LABEL });
    expect(caption.entities[0]!.offset).toBe(subject.length + 1);
    expect(caption.entities[0]!.offset).toBeGreaterThan(codePointLength(subject) + 1);
    expect(linkedText(caption)).toBe(LABEL);
  });

  it('keeps right-to-left subjects intact', () => {
    const subject = 'تقرير المبيعات الأسبوعي — דוח מכירות';
    const caption = buildCaption({ subject, link: LINK, linkLabel: 'Open in Superset' });
    expect(caption.text).toBe(`${subject}\nOpen in Superset`);
    expect(linkedText(caption)).toBe('Open in Superset');
  });

  it('makes the subject one line and repairs lone surrogates', () => {
    const caption = buildCaption({
      subject: ' Sales\r\n  report\u0000\u0007\tQ3 \u2028x ',
      link: null,
      linkLabel: LABEL,
    });
    expect(caption.text).toBe('Sales report Q3 x');

    const broken = buildCaption({ subject: 'a\uD83Db\uDE00c', link: LINK, linkLabel: LABEL });
    expect(broken.text).toBe(`a\uFFFDb\uFFFDc\n${LABEL}`);
    expect(linkedText(broken)).toBe(LABEL);
  });

  it('leaves a caption of exactly the limit alone and cuts one character more', () => {
    const room = CAPTION_MAX_LENGTH - codePointLength(LABEL) - 1;
    const exact = 'x'.repeat(room);
    const atLimit = buildCaption({ subject: exact, link: LINK, linkLabel: LABEL });
    expect(codePointLength(atLimit.text)).toBe(CAPTION_MAX_LENGTH);
    expect(atLimit.text).toBe(`${exact}\n${LABEL}`);

    const over = buildCaption({ subject: exact + 'y', link: LINK, linkLabel: LABEL });
    expect(codePointLength(over.text)).toBe(CAPTION_MAX_LENGTH);
    expect(over.text).toBe(`${'x'.repeat(room - 1)}…\n${LABEL}`);
    expect(linkedText(over)).toBe(LABEL);
  });

  it('counts code points, not UTF-16 units, against the limit', () => {
    // 1000 astral characters are 2000 UTF-16 units but 1000 code points: under the limit without a link.
    const subject = '😀'.repeat(1000);
    expect(buildCaption({ subject, link: null, linkLabel: LABEL }).text).toBe(subject);
  });

  it('cuts a 5000-character subject and keeps the link line', () => {
    const words = Array.from({ length: 1000 }, (_, index) => `w${index % 10}rd`).join(' ');
    const subject = words.slice(0, 5000);
    const caption = buildCaption({ subject, link: LINK, linkLabel: LABEL });
    expect(codePointLength(caption.text)).toBeLessThanOrEqual(CAPTION_MAX_LENGTH);
    expect(caption.text.endsWith(`…\n${LABEL}`)).toBe(true);
    expect(linkedText(caption)).toBe(LABEL);
    const kept = expectCleanCut(subject, caption.text.slice(0, -(LABEL.length + 1)), 1024);
    // cut at a word boundary: the kept part ends with a whole word
    expect(subject[kept.length]).toBe(' ');
  });

  it('never leaves half a surrogate pair at the cut, whatever the limit', () => {
    const subject = 'a😀'.repeat(600);
    for (let maxLength = 1000; maxLength <= 1024; maxLength++) {
      const caption = buildCaption({ subject, link: LINK, linkLabel: LABEL, maxLength });
      expect(codePointLength(caption.text)).toBeLessThanOrEqual(maxLength);
      expect(caption.text).not.toMatch(LONE_SURROGATE);
      expect(linkedText(caption)).toBe(LABEL);
    }
  });

  it('honours a custom maxLength', () => {
    // 20 - "\nOpen" leaves 15 for the subject: 14 characters + "…"; the space at 10 is before the last 20%
    const midWord = buildCaption({
      subject: 'Revenue by region and channel',
      link: LINK,
      linkLabel: 'Open',
      maxLength: 20,
    });
    expect(midWord.text).toBe('Revenue by reg…\nOpen');
    expect(linkedText(midWord)).toBe('Open');
    // 24 leaves room for 18 + "…"; the space at 18 ends a word
    const atWord = buildCaption({
      subject: 'Revenue by region, all channels',
      link: LINK,
      linkLabel: 'Open',
      maxLength: 24,
    });
    expect(atWord.text).toBe('Revenue by region,…\nOpen');
  });

  it('drops the link rather than the subject when the link line cannot fit', () => {
    expect(
      buildCaption({ subject: 'Sales', link: LINK, linkLabel: 'Open in Superset', maxLength: 10 }),
    ).toEqual({
      text: 'Sales',
      entities: [],
    });
    expect(buildCaption({ subject: '', link: LINK, linkLabel: 'Open in Superset', maxLength: 10 })).toEqual({
      text: '',
      entities: [],
    });
  });

  it('rejects a maxLength that is not a non-negative integer', () => {
    for (const maxLength of [-1, 1.5, Number.NaN]) {
      expect(() => buildCaption({ subject: 's', link: null, linkLabel: LABEL, maxLength })).toThrow(
        RangeError,
      );
    }
  });
});

describe('truncateText', () => {
  it('returns short texts unchanged', () => {
    expect(truncateText('', 0)).toBe('');
    expect(truncateText('abc', 3)).toBe('abc');
    expect(truncateText('😀😀', 2)).toBe('😀😀');
  });

  it('returns "" for a zero limit and just "…" for a limit of one', () => {
    expect(truncateText('abc', 0)).toBe('');
    expect(truncateText('abc', 1)).toBe('…');
  });

  it('prefers the last whitespace within the last 20% of the room', () => {
    // room for 19 characters + "…"; the space after "quarterly" (index 16) is within the last 20%
    expect(truncateText('Revenue quarterly overview for all regions', 20)).toBe('Revenue quarterly…');
    // a word boundary exactly where the room ends
    expect(truncateText('abcd efgh', 5)).toBe('abcd…');
  });

  it('cuts inside a word when the last whitespace is too far back', () => {
    // the only space is at index 3 of a room of 19: cutting there would waste most of the room
    expect(truncateText('Net supercalifragilisticexpialidocious', 20)).toBe('Net supercalifragil…');
    expect(truncateText('x'.repeat(50), 10)).toBe(`${'x'.repeat(9)}…`);
  });

  it('drops whitespace before the ellipsis', () => {
    expect(truncateText('abcdefgh    ijkl', 12)).toBe('abcdefgh…');
  });

  it('keeps emoji ZWJ sequences, flags and combining marks whole', () => {
    const family = '👨‍👩‍👧‍👦'; // 7 code points, one grapheme
    const flag = '🇷🇺'; // 2 regional indicators, one grapheme
    const accented = 'e\u0301'; // e + combining acute, one grapheme
    const devanagari = 'क्षि'; // a conjunct with virama and vowel sign
    for (const unit of [family, flag, accented, devanagari]) {
      const text = unit.repeat(200);
      for (let maxLength = 1; maxLength <= 40; maxLength++) {
        const cut = truncateText(text, maxLength);
        const kept = expectCleanCut(text, cut, maxLength);
        expect(kept.length % unit.length, `${JSON.stringify(unit)} at ${maxLength}`).toBe(0);
      }
    }
    for (const text of ['a😀'.repeat(100), `${flag}${family}x`.repeat(30)]) {
      for (let maxLength = 1; maxLength <= 40; maxLength++)
        expectCleanCut(text, truncateText(text, maxLength), maxLength);
    }
  });

  it('yields only "…" when the first grapheme alone is over the room', () => {
    const zalgo = `Z${'\u0336\u0353\u0318'.repeat(20)}algo`; // one grapheme of 61 code points first
    expect(truncateText(zalgo, 30)).toBe('…');
  });

  it('cuts any mixed text cleanly at every limit', () => {
    const text = 'Отчёт 📊 «Продажи» <b>&amp; תל אביב 👩🏽‍💻 e\u0301t\u00e9 🇺🇦 *_[]_* \r\n конец 𝔘𝔫𝔦𝔠𝔬𝔡𝔢';
    const length = codePointLength(text);
    for (let maxLength = 1; maxLength < length; maxLength++) {
      expectCleanCut(text, truncateText(text, maxLength), maxLength);
    }
    expect(truncateText(text, length)).toBe(text);
  });
});

describe('plainCaption', () => {
  it('puts the URL on the second line as plain text, with no entities', () => {
    expect(plainCaption('Weekly sales <b>', LINK)).toEqual({
      text: `Weekly sales <b>\n${LINK}`,
      entities: [],
    });
  });

  it('is the subject alone without a usable link, and the URL alone without a subject', () => {
    expect(plainCaption('Weekly sales', 'http://localhost:8088/x')).toEqual({
      text: 'Weekly sales',
      entities: [],
    });
    expect(plainCaption('', LINK)).toEqual({ text: LINK, entities: [] });
    expect(plainCaption('', null)).toEqual({ text: '', entities: [] });
  });

  it('cuts the subject, not the URL, to the limit', () => {
    const caption = plainCaption('s'.repeat(5000), LINK);
    expect(codePointLength(caption.text)).toBe(CAPTION_MAX_LENGTH);
    expect(caption.text.endsWith(`s…\n${LINK}`)).toBe(true);
  });

  it('drops a URL too long to fit beside the subject', () => {
    const longLink = `https://superset.example.com/${'a'.repeat(1100)}`;
    expect(plainCaption('Sales', longLink)).toEqual({ text: 'Sales', entities: [] });
  });
});

describe('shortCaption', () => {
  it('is the subject without a link, cut to 200 code points by default', () => {
    expect(shortCaption('Weekly sales')).toEqual({ text: 'Weekly sales', entities: [] });
    const caption = shortCaption('😀'.repeat(500));
    expect(caption.text).toBe(`${'😀'.repeat(199)}…`);
    expect(codePointLength(caption.text)).toBe(200);
    expect(shortCaption('abcdef', 4).text).toBe('abc…');
  });
});

describe('usableLink', () => {
  it.each([
    [
      'https://superset.example.com/superset/dashboard/12/',
      'https://superset.example.com/superset/dashboard/12/',
    ],
    [
      'http://bi.corp:8088/superset/dashboard/p/abc/?standalone=1',
      'http://bi.corp:8088/superset/dashboard/p/abc/?standalone=1',
    ],
    ['https://10.1.2.3/x', 'https://10.1.2.3/x'],
    ['https://[2001:db8::1]:8443/', 'https://[2001:db8::1]:8443/'],
    [
      'https://отчёты.рф/дашборд',
      'https://xn--n1aiatv8a.xn--p1ai/%D0%B4%D0%B0%D1%88%D0%B1%D0%BE%D1%80%D0%B4',
    ],
    ['https://example.com', 'https://example.com/'],
  ])('accepts %s', (input, expected) => {
    expect(usableLink(input)).toBe(expected);
  });

  it.each([
    [null],
    [undefined],
    [''],
    ['not a url'],
    ['/superset/dashboard/12/'],
    ['ftp://example.com/report.pdf'],
    ['javascript:alert(1)'],
    ['mailto:bi@example.com'],
    ['http://0.0.0.0:8080/superset/dashboard/1/'],
    ['http://0:8080/'],
    ['http://localhost:8088/'],
    ['http://LOCALHOST./'],
    ['http://superset.localhost/'],
    ['http://127.0.0.1/'],
    ['http://127.42.0.9:8088/'],
    ['http://127.1/'],
    ['http://2130706433/'],
    ['http://0x7f.0.0.1/'],
    ['http://[::1]:8088/'],
    ['http://[0:0:0:0:0:0:0:1]/'],
    ['http://[::]/'],
    ['http://[::ffff:127.0.0.1]/'],
  ])('rejects %s', (input) => {
    expect(usableLink(input)).toBeNull();
  });
});
