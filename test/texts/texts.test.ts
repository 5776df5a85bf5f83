import { describe, expect, it } from 'vitest';
import { formatByteSize } from '../../src/texts/byte-size.js';
import { en } from '../../src/texts/en.js';
import { DEFAULT_LANGUAGE, LANGUAGES, languageFor, texts } from '../../src/texts/index.js';
import { ru } from '../../src/texts/ru.js';

const MiB = 1024 * 1024;

describe('languageFor', () => {
  it.each(['en', 'en-US', 'en-GB', 'EN', 'En-au', 'en_US', ' en '])('chooses English for %j', (code) => {
    expect(languageFor(code)).toBe('en');
  });

  it.each(['ru', 'ru-RU', 'uk', 'be', 'kk', 'de', 'fr', 'eng', 'enm', '', 'xx'])(
    'chooses Russian for %j',
    (code) => {
      expect(languageFor(code)).toBe('ru');
    },
  );

  it('chooses Russian, the default, when the code is missing', () => {
    expect(languageFor()).toBe('ru');
    expect(languageFor(null)).toBe('ru');
    expect(languageFor(undefined)).toBe('ru');
    expect(DEFAULT_LANGUAGE).toBe('ru');
  });
});

describe('texts', () => {
  it('returns the catalog of each language', () => {
    expect(texts('ru')).toBe(ru);
    expect(texts('en')).toBe(en);
    expect(LANGUAGES.map((language) => texts(language).linkLabel)).toEqual([
      'Открыть в Superset',
      'Open in Superset',
    ]);
  });

  it('has the same keys, of the same kinds, in every language', () => {
    const shape = (catalog: object) =>
      Object.entries(catalog)
        .map(([key, value]) => `${key}:${typeof value}`)
        .sort();
    for (const language of LANGUAGES) expect(shape(texts(language))).toEqual(shape(ru));
  });

  it('has no empty texts', () => {
    for (const language of LANGUAGES) {
      for (const [key, value] of Object.entries(texts(language))) {
        if (typeof value === 'string') expect(value.trim(), `${language}.${key}`).not.toBe('');
      }
    }
  });
});

describe('formatSize', () => {
  it.each([
    [0, '0 Б', '0 B'],
    [1, '1 Б', '1 B'],
    [1023, '1023 Б', '1023 B'],
    [1024, '1 КБ', '1 KB'],
    [1536, '1,5 КБ', '1.5 KB'],
    [200_000, '195,3 КБ', '195.3 KB'],
    [MiB - 1, '1 МБ', '1 MB'], // 1023.999 KB rounds up to the next unit, never "1024 КБ"
    [MiB, '1 МБ', '1 MB'],
    [10 * MiB, '10 МБ', '10 MB'],
    [50 * MiB, '50 МБ', '50 MB'],
    [66_270_003, '63,2 МБ', '63.2 MB'],
    [1023.96 * MiB, '1 ГБ', '1 GB'],
    [2.25 * 1024 * MiB, '2,3 ГБ', '2.3 GB'],
    [5000 * 1024 * MiB, '5000 ГБ', '5000 GB'],
  ])('formats %d bytes', (bytes, russian, english) => {
    expect(texts('ru').formatSize(bytes)).toBe(russian);
    expect(texts('en').formatSize(bytes)).toBe(english);
  });

  it('refuses what is not a byte count', () => {
    for (const bytes of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => texts('ru').formatSize(bytes)).toThrow(RangeError);
      expect(() => formatByteSize(bytes, ['B', 'KB', 'MB', 'GB'], '.')).toThrow(RangeError);
    }
  });
});

describe('tooLargeNotice', () => {
  it('names the file, its size and the limit', () => {
    expect(texts('ru').tooLargeNotice('Продажи.pdf', 66_270_003)).toBe(
      '📎 «Продажи.pdf» (63,2 МБ) больше лимита Telegram для ботов (50 МБ) и не отправлен.',
    );
    expect(texts('en').tooLargeNotice('Sales.pdf', 66_270_003)).toBe(
      "📎 “Sales.pdf” (63.2 MB) is over Telegram's limit for bots (50 MB) and was not sent.",
    );
  });

  it('states a configured limit', () => {
    expect(texts('en').tooLargeNotice('a.pdf', 3000 * MiB, 2000 * MiB)).toContain('(2 GB)');
    expect(texts('ru').tooLargeNotice('a.pdf', 3000 * MiB, 2000 * MiB)).toContain('(2 ГБ)');
  });

  it('quotes any file name verbatim', () => {
    const name = '<b>«Q3» & *sales*_[1].pdf';
    expect(texts('ru').tooLargeNotice(name, 51 * MiB)).toContain(`«${name}»`);
    expect(texts('en').tooLargeNotice(name, 51 * MiB)).toContain(`“${name}”`);
  });
});
