import { describe, expect, it } from 'vitest';
import type { Caption } from '../../src/core/caption.js';
import {
  countMessages,
  DEFAULT_PLAN_LIMITS,
  isPhotoEligible,
  type MediaMode,
  type PlanInput,
  type PlannedItem,
  type PlannedMessage,
  planMessages,
} from '../../src/core/message-plan.js';
import type { ReportFile } from '../../src/core/report.js';

const MiB = 1024 * 1024;

const CAPTION: Caption = {
  text: 'Weekly sales\nOpen in Superset',
  entities: [{ type: 'text_link', offset: 13, length: 16, url: 'https://bi.example.com/d/1/' }],
};

function pdf(name: string, size = 300_000): ReportFile {
  return {
    filename: name,
    contentType: 'application/pdf',
    size,
    sha256: 'ab'.repeat(32),
    path: `/data/${name}`,
  };
}

function png(
  name: string,
  width: number | undefined,
  height: number | undefined,
  size = 400_000,
): ReportFile {
  return {
    filename: name,
    contentType: 'image/png',
    size,
    sha256: 'cd'.repeat(32),
    path: `/data/${name}`,
    width,
    height,
  };
}

const notice = (file: { filename: string; size: number }): string =>
  `too large: ${file.filename} (${file.size})`;

function plan(
  files: ReportFile[],
  mediaMode: MediaMode = 'photo',
  extra: Partial<PlanInput> = {},
): PlannedMessage[] {
  return planMessages({ files, tooLarge: [], caption: CAPTION, mediaMode, tooLargeNotice: notice, ...extra });
}

const photo = (fileIndex: number): PlannedItem => ({ fileIndex, as: 'photo' });
const doc = (fileIndex: number): PlannedItem => ({ fileIndex, as: 'document' });

/** Number of items in each media message, in order. */
function chunkSizes(messages: PlannedMessage[]): number[] {
  return messages.flatMap((message) =>
    message.kind === 'album' ? [message.items.length] : message.kind === 'single' ? [1] : [],
  );
}

describe('isPhotoEligible', () => {
  it('accepts an ordinary dashboard screenshot', () => {
    expect(isPhotoEligible(png('d.png', 1600, 2000))).toBe(true);
  });

  it('applies the size limit inclusively', () => {
    expect(isPhotoEligible(png('d.png', 1600, 2000, 10 * MiB))).toBe(true);
    expect(isPhotoEligible(png('d.png', 1600, 2000, 10 * MiB + 1))).toBe(false);
  });

  it('applies the width + height limit inclusively', () => {
    expect(isPhotoEligible(png('tall.png', 1600, 8400))).toBe(true);
    expect(isPhotoEligible(png('tall.png', 1600, 8401))).toBe(false);
    expect(isPhotoEligible(png('wide.png', 9001, 1000))).toBe(false);
  });

  it('applies the aspect-ratio limit inclusively, both ways round', () => {
    expect(isPhotoEligible(png('tall.png', 300, 6000))).toBe(true);
    expect(isPhotoEligible(png('tall.png', 299, 6000))).toBe(false);
    expect(isPhotoEligible(png('wide.png', 6000, 300))).toBe(true);
    expect(isPhotoEligible(png('wide.png', 6000, 299))).toBe(false);
  });

  it('refuses unknown or nonsensical dimensions and PDFs', () => {
    expect(isPhotoEligible(png('d.png', undefined, undefined))).toBe(false);
    expect(isPhotoEligible(png('d.png', 800, undefined))).toBe(false);
    expect(isPhotoEligible(png('d.png', 0, 800))).toBe(false);
    expect(isPhotoEligible(pdf('d.pdf'))).toBe(false);
  });

  it('uses the limits it is given', () => {
    const file = png('d.png', 1600, 4000, 3 * MiB);
    expect(isPhotoEligible(file, { photoMaxRatio: 2 })).toBe(false);
    expect(isPhotoEligible(file, { photoMaxBytes: 2 * MiB })).toBe(false);
    expect(isPhotoEligible(file, { photoMaxDimensionSum: 5000 })).toBe(false);
    expect(isPhotoEligible(file, { photoMaxRatio: 3 })).toBe(true);
  });
});

describe('planMessages', () => {
  it('is empty without files or notices', () => {
    expect(plan([])).toEqual([]);
  });

  it('sends a PDF as a document with the caption', () => {
    expect(plan([pdf('r.pdf')])).toEqual([{ kind: 'single', item: doc(0), withCaption: true }]);
  });

  it('sends PDFs as documents in every mode', () => {
    for (const mode of ['photo', 'document', 'both'] as const) {
      expect(plan([pdf('r.pdf')], mode)).toEqual([{ kind: 'single', item: doc(0), withCaption: true }]);
    }
  });

  describe('photo mode', () => {
    it('sends an eligible PNG as a photo', () => {
      expect(plan([png('d.png', 1600, 2000)])).toEqual([
        { kind: 'single', item: photo(0), withCaption: true },
      ]);
    });

    it.each([
      ['too tall', png('tall.png', 1600, 40_000)],
      ['too wide', png('wide.png', 12_000, 500)],
      ['too narrow a strip', png('strip.png', 200, 4100)],
      ['over 10 MB', png('huge.png', 1600, 2000, 12 * MiB)],
      ['of unknown size', png('unknown.png', undefined, undefined)],
    ])('falls back to a document for a PNG %s', (_, file) => {
      expect(plan([file])).toEqual([{ kind: 'single', item: doc(0), withCaption: true }]);
    });
  });

  it('document mode sends every PNG as a document', () => {
    expect(plan([png('a.png', 1600, 2000), png('b.png', 1600, 40_000)], 'document')).toEqual([
      { kind: 'album', items: [doc(0), doc(1)], withCaption: true },
    ]);
  });

  it('both mode sends an eligible PNG as a photo and as a document, each with the caption', () => {
    expect(plan([png('d.png', 1600, 2000)], 'both')).toEqual([
      { kind: 'single', item: photo(0), withCaption: true },
      { kind: 'single', item: doc(0), withCaption: true },
    ]);
  });

  it('both mode sends an ineligible PNG only as a document', () => {
    expect(plan([png('tall.png', 1600, 40_000)], 'both')).toEqual([
      { kind: 'single', item: doc(0), withCaption: true },
    ]);
  });

  it('puts photos first, then PDFs and PNG documents together in document order', () => {
    const files = [
      pdf('1.pdf'),
      png('2.png', 1600, 2000),
      png('3-tall.png', 1600, 40_000),
      pdf('4.pdf'),
      png('5.png', 1000, 1000),
    ];
    expect(plan(files)).toEqual([
      { kind: 'album', items: [photo(1), photo(4)], withCaption: true },
      { kind: 'album', items: [doc(0), doc(2), doc(3)], withCaption: true },
    ]);
    expect(plan(files, 'both')).toEqual([
      { kind: 'album', items: [photo(1), photo(4)], withCaption: true },
      { kind: 'album', items: [doc(0), doc(1), doc(2), doc(3), doc(4)], withCaption: true },
    ]);
  });

  it('never mixes photos and documents in one album', () => {
    const files = Array.from({ length: 14 }, (_, index) =>
      index % 3 === 0 ? pdf(`${index}.pdf`) : png(`${index}.png`, 1600, index % 2 === 0 ? 2000 : 30_000),
    );
    for (const mode of ['photo', 'document', 'both'] as const) {
      for (const message of plan(files, mode)) {
        if (message.kind !== 'album') continue;
        expect(new Set(message.items.map((item) => item.as)).size).toBe(1);
      }
    }
  });

  describe('album sizes', () => {
    const expectedSizes: Record<number, number[]> = {
      1: [1],
      2: [2],
      9: [9],
      10: [10],
      11: [6, 5],
      12: [6, 6],
      19: [10, 9],
      20: [10, 10],
      21: [7, 7, 7],
      22: [8, 7, 7],
      25: [9, 8, 8],
    };

    for (let count = 1; count <= 25; count++) {
      it(`splits ${count} files of one kind into near-equal albums of 2–10`, () => {
        for (const [kind, make] of [
          ['photo', (index: number) => png(`${index}.png`, 1600, 2000)],
          ['document', (index: number) => pdf(`${index}.pdf`)],
        ] as const) {
          const files = Array.from({ length: count }, (_, index) => make(index));
          const messages = plan(files);
          const sizes = chunkSizes(messages);

          expect(messages).toHaveLength(Math.ceil(count / 10));
          expect(sizes.reduce((sum, size) => sum + size, 0)).toBe(count);
          expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
          expect(Math.max(...sizes)).toBeLessThanOrEqual(10);
          if (count === 1) {
            expect(messages[0]).toEqual({
              kind: 'single',
              item: { fileIndex: 0, as: kind },
              withCaption: true,
            });
          } else {
            for (const message of messages) {
              expect(message.kind).toBe('album');
              if (message.kind === 'album') expect(message.items.length).toBeGreaterThanOrEqual(2);
            }
          }
          if (expectedSizes[count]) expect(sizes).toEqual(expectedSizes[count]);

          // every file once, in document order, as the right media type
          const items = messages.flatMap((message) =>
            message.kind === 'album' ? message.items : message.kind === 'single' ? [message.item] : [],
          );
          expect(items).toEqual(files.map((_, fileIndex) => ({ fileIndex, as: kind })));
          // only the first message of the group carries the caption
          expect(messages.map((message) => message.kind !== 'notice' && message.withCaption)).toEqual(
            messages.map((_, index) => index === 0),
          );
          expect(countMessages(messages)).toBe(count);
        }
      });
    }
  });

  it('captions the first message of each group, not later chunks', () => {
    const files = [
      ...Array.from({ length: 12 }, (_, index) => png(`${index}.png`, 1600, 2000)),
      pdf('r.pdf'),
    ];
    expect(plan(files).map((message) => message.kind !== 'notice' && message.withCaption)).toEqual([
      true,
      false,
      true,
    ]);
  });

  it('turns a chunk of one into a single message when albumMax is 2', () => {
    const files = [pdf('a.pdf'), pdf('b.pdf'), pdf('c.pdf')];
    expect(plan(files, 'photo', { limits: { albumMax: 2 } })).toEqual([
      { kind: 'album', items: [doc(0), doc(1)], withCaption: true },
      { kind: 'single', item: doc(2), withCaption: false },
    ]);
  });

  it('rejects an albumMax Telegram would refuse, and non-positive limits', () => {
    for (const albumMax of [0, 1, 11, 2.5]) {
      expect(() => plan([pdf('a.pdf')], 'photo', { limits: { albumMax } })).toThrow(RangeError);
    }
    expect(() => plan([pdf('a.pdf')], 'photo', { limits: { uploadMaxBytes: 0 } })).toThrow(RangeError);
    expect(() => plan([pdf('a.pdf')], 'photo', { limits: { photoMaxRatio: Number.NaN } })).toThrow(
      RangeError,
    );
  });

  describe('files too large to upload', () => {
    it('sends a file of exactly the limit and replaces a bigger one with a notice, last', () => {
      const files = [pdf('big.pdf', 50 * MiB + 1), pdf('ok.pdf', 50 * MiB), png('d.png', 1600, 2000)];
      expect(plan(files)).toEqual([
        { kind: 'single', item: photo(2), withCaption: true },
        { kind: 'single', item: doc(1), withCaption: true },
        { kind: 'notice', text: `too large: big.pdf (${50 * MiB + 1})`, entities: [] },
      ]);
    });

    it('never plans an oversize PNG as a photo or a document, in any mode', () => {
      for (const mode of ['photo', 'document', 'both'] as const) {
        const messages = plan([png('giant.png', 1600, 2000, 60 * MiB), pdf('r.pdf')], mode);
        expect(messages).toEqual([
          { kind: 'single', item: doc(1), withCaption: true },
          { kind: 'notice', text: `too large: giant.png (${60 * MiB})`, entities: [] },
        ]);
      }
    });

    it('gives a notice for every tooLarge part, after the oversize files, in order', () => {
      const messages = plan([pdf('r.pdf'), pdf('big.pdf', 70 * MiB)], 'photo', {
        tooLarge: [
          { filename: 'x.pdf', size: 66_270_003 },
          { filename: 'y.png', size: 90 * MiB },
        ],
      });
      expect(messages).toEqual([
        { kind: 'single', item: doc(0), withCaption: true },
        { kind: 'notice', text: `too large: big.pdf (${70 * MiB})`, entities: [] },
        { kind: 'notice', text: 'too large: x.pdf (66270003)', entities: [] },
        { kind: 'notice', text: `too large: y.png (${90 * MiB})`, entities: [] },
      ]);
      expect(countMessages(messages)).toBe(4);
    });

    it('puts the caption on the first notice when no file can be sent, so the report is still named', () => {
      const messages = plan([pdf('big.pdf', 60 * MiB)], 'photo', {
        tooLarge: [{ filename: 'z.png', size: 51 * MiB }],
      });
      expect(messages).toEqual([
        {
          kind: 'notice',
          text: `${CAPTION.text}\n\ntoo large: big.pdf (${60 * MiB})`,
          entities: CAPTION.entities,
        },
        { kind: 'notice', text: `too large: z.png (${51 * MiB})`, entities: [] },
      ]);
      const first = messages[0]!;
      if (first.kind !== 'notice') throw new Error('expected a notice');
      const entity = first.entities[0]!;
      expect(first.text.slice(entity.offset, entity.offset + entity.length)).toBe('Open in Superset');
    });

    it('sends a bare notice when the caption is empty', () => {
      expect(
        plan([], 'photo', {
          caption: { text: '', entities: [] },
          tooLarge: [{ filename: 'a.pdf', size: 1 }],
        }),
      ).toEqual([{ kind: 'notice', text: 'too large: a.pdf (1)', entities: [] }]);
    });

    it('keeps a notice within the 4096-character message limit', () => {
      const longName = `${'n'.repeat(5000)}.pdf`;
      const [message] = plan([], 'photo', { tooLarge: [{ filename: longName, size: 1 }] });
      if (message?.kind !== 'notice') throw new Error('expected a notice');
      expect([...message.text].length).toBeLessThanOrEqual(4096);
      expect(message.text.startsWith(`${CAPTION.text}\n\ntoo large: nnn`)).toBe(true);
      expect(message.text.endsWith('…')).toBe(true);
    });

    it('honours a raised upload limit (local Bot API server)', () => {
      expect(plan([pdf('big.pdf', 60 * MiB)], 'photo', { limits: { uploadMaxBytes: 2000 * MiB } })).toEqual([
        { kind: 'single', item: doc(0), withCaption: true },
      ]);
    });
  });

  it('does not mutate its input', () => {
    const files = [png('d.png', 1600, 2000), pdf('r.pdf', 60 * MiB)];
    const tooLarge = [{ filename: 'x.pdf', size: 70 * MiB }];
    const snapshot = structuredClone({ files, tooLarge, caption: CAPTION });
    plan(files, 'both', { tooLarge });
    expect({ files, tooLarge, caption: CAPTION }).toEqual(snapshot);
  });
});

describe('countMessages', () => {
  it('counts an album as its items and everything else as one', () => {
    expect(countMessages([])).toBe(0);
    expect(
      countMessages([
        { kind: 'album', items: [photo(0), photo(1), photo(2)], withCaption: true },
        { kind: 'single', item: doc(3), withCaption: true },
        { kind: 'notice', text: 'n', entities: [] },
      ]),
    ).toBe(5);
  });
});

describe('DEFAULT_PLAN_LIMITS', () => {
  it('matches the Bot API limits', () => {
    expect(DEFAULT_PLAN_LIMITS).toEqual({
      photoMaxBytes: 10 * MiB,
      uploadMaxBytes: 50 * MiB,
      photoMaxDimensionSum: 10_000,
      photoMaxRatio: 20,
      albumMax: 10,
    });
    expect(Object.isFrozen(DEFAULT_PLAN_LIMITS)).toBe(true);
  });
});

describe('a TEXT report table and data files (issue 13 part 4)', () => {
  const data = (name: string, contentType: ReportFile['contentType']): ReportFile => ({
    ...pdf(name),
    contentType,
  });

  it('sends the table first, as one message with the caption, then the files', () => {
    expect(plan([pdf('a.pdf')], 'photo', { textTable: 'k  v\n-  -\na  1' })).toEqual([
      { kind: 'table', withCaption: true },
      { kind: 'single', item: { fileIndex: 0, as: 'document' }, withCaption: true },
    ]);
    expect(plan([], 'photo', { textTable: 'k' })).toEqual([{ kind: 'table', withCaption: true }]);
    expect(countMessages(plan([], 'photo', { textTable: 'k' }))).toBe(1);
  });

  it('is plain data: the plan names the table, it does not copy its text', () => {
    const text = 'x'.repeat(3000);
    expect(JSON.stringify(plan([], 'photo', { textTable: text }))).not.toContain('xxx');
  });

  it('sends CSV, XLSX and ZIP files as documents, grouped in one album with PDFs', () => {
    const files = [
      data('a.csv', 'text/csv'),
      data('b.xlsx', 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'),
      data('c.zip', 'application/zip'),
    ];
    expect(plan(files, 'photo')).toEqual([
      {
        kind: 'album',
        items: [0, 1, 2].map((fileIndex) => ({ fileIndex, as: 'document' })),
        withCaption: true,
      },
    ]);
    for (const file of files) expect(isPhotoEligible(file)).toBe(false);
  });
});

describe('planMessages with tiles of a tall PNG', () => {
  /** A 1600×30000 screenshot cut at intake into `count` tiles of 1600×2500. */
  function tall(name: string, count: number, tileSize = 300_000): ReportFile {
    const tiles = Array.from({ length: count }, (_, index) => ({
      ...png(`${name} (${index + 1}-${count}).png`, 1600, 2500, tileSize),
      sha256: `${index}`.padStart(64, 'e'),
    }));
    return { ...png(`${name}.png`, 1600, 30_000, 3 * MiB), tiles };
  }
  const tile = (fileIndex: number, index: number): PlannedItem => ({ fileIndex, tile: index, as: 'photo' });

  it('sends the tiles as albums of at most 10, then the original as a document (tiles+document)', () => {
    const messages = plan([tall('Sales', 12)], 'photo', { tallImageMode: 'tiles+document' });
    expect(messages).toEqual([
      { kind: 'album', items: [0, 1, 2, 3, 4, 5].map((index) => tile(0, index)), withCaption: true },
      { kind: 'album', items: [6, 7, 8, 9, 10, 11].map((index) => tile(0, index)), withCaption: false },
      { kind: 'single', item: doc(0), withCaption: true },
    ]);
  });

  it('sends the tiles only in tiles mode, the original only in document mode or without the setting', () => {
    expect(plan([tall('Sales', 3)], 'photo', { tallImageMode: 'tiles' })).toEqual([
      { kind: 'album', items: [tile(0, 0), tile(0, 1), tile(0, 2)], withCaption: true },
    ]);
    const whole = [{ kind: 'single', item: doc(0), withCaption: true }];
    expect(plan([tall('Sales', 3)], 'photo', { tallImageMode: 'document' })).toEqual(whole);
    expect(plan([tall('Sales', 3)], 'photo')).toEqual(whole);
  });

  it('follows the media mode: document sends the original only, both always adds it', () => {
    expect(plan([tall('Sales', 3)], 'document', { tallImageMode: 'tiles' })).toEqual([
      { kind: 'single', item: doc(0), withCaption: true },
    ]);
    expect(plan([tall('Sales', 3)], 'both', { tallImageMode: 'tiles' })).toEqual([
      { kind: 'album', items: [tile(0, 0), tile(0, 1), tile(0, 2)], withCaption: true },
      { kind: 'single', item: doc(0), withCaption: true },
    ]);
  });

  it('keeps ordinary photos, each tall image’s tiles and the documents apart, one caption for the tiles', () => {
    const files = [png('a.png', 1600, 1200), tall('B', 2), pdf('c.pdf'), tall('D', 2)];
    expect(plan(files, 'photo', { tallImageMode: 'tiles+document' })).toEqual([
      { kind: 'single', item: photo(0), withCaption: true },
      { kind: 'album', items: [tile(1, 0), tile(1, 1)], withCaption: true },
      { kind: 'album', items: [tile(3, 0), tile(3, 1)], withCaption: false },
      { kind: 'album', items: [doc(1), doc(2), doc(3)], withCaption: true },
    ]);
  });

  it('sends the original whole when a tile is no photo Telegram takes (over 10 MB)', () => {
    expect(plan([tall('Sales', 3, 11 * MiB)], 'photo', { tallImageMode: 'tiles' })).toEqual([
      { kind: 'single', item: doc(0), withCaption: true },
    ]);
  });
});
