/** The TEXT report's table as Telegram shows it: widths, alignment, the fit rule, and the CSV for Excel. */
import { describe, expect, it } from 'vitest';
import {
  displayWidth,
  escapeFormula,
  escapeHtml,
  layOutTable,
  monospaceTable,
  TABLE_LINE_MAX_WIDTH,
  TABLE_TEXT_MAX_LENGTH,
  tableToCsv,
  withoutRangeIndex,
} from '../../src/core/text-table.js';

describe('displayWidth', () => {
  it('counts a Cyrillic letter as one column, decomposed or not', () => {
    expect(displayWidth('Москва')).toBe(6);
    // й written as и + combining breve is one grapheme, one column (its UTF-16 length is 2)
    expect('и\u0306'.length).toBe(2);
    expect(displayWidth('и\u0306')).toBe(1);
  });

  it('counts East Asian wide characters and emoji as two, format characters as none', () => {
    expect(displayWidth('東京')).toBe(4);
    expect(displayWidth('📈')).toBe(2);
    expect(displayWidth('a\u200bb')).toBe(2);
  });
});

describe('layOutTable', () => {
  it('aligns columns by display width, numbers to the right', () => {
    const text = layOutTable({
      cells: [
        ['Город', 'Выручка'],
        ['Москва', '1250.5'],
        ['Сочи', '-3'],
      ],
      headerRows: 1,
    });
    expect(text).toBe(
      ['Город   Выручка', '------  -------', 'Москва   1250.5', 'Сочи         -3'].join('\n'),
    );
  });

  it('drops pandas\u2019 0, 1, 2 index but keeps a real first column', () => {
    const indexed = {
      cells: [
        ['', 'a'],
        ['0', 'x'],
        ['1', 'y'],
      ],
      headerRows: 1,
    };
    expect(withoutRangeIndex(indexed).cells).toEqual([['a'], ['x'], ['y']]);
    const named = {
      cells: [
        ['id', 'a'],
        ['0', 'x'],
        ['1', 'y'],
      ],
      headerRows: 1,
    };
    expect(withoutRangeIndex(named)).toBe(named);
    const skipping = {
      cells: [
        ['', 'a'],
        ['0', 'x'],
        ['2', 'y'],
      ],
      headerRows: 1,
    };
    expect(withoutRangeIndex(skipping)).toBe(skipping);
  });
});

describe('monospaceTable: the fit rule', () => {
  const rowsOf = (count: number, cell: string) => ({
    cells: [['h'], ...Array.from({ length: count }, () => [cell])],
    headerRows: 1,
  });

  it('takes a table up to TABLE_TEXT_MAX_LENGTH characters and refuses one character more', () => {
    // each row is 9 characters plus a line break; header "h" + "\n" + separator + "\n"
    const header = 'h'.padEnd(9).trimEnd().length + 1 + 9 + 1;
    const rows = Math.floor((TABLE_TEXT_MAX_LENGTH - header + 1) / 10);
    const fitting = rowsOf(rows, 'ккккккккк');
    const text = monospaceTable(fitting)!;
    expect(text).not.toBeNull();
    expect([...text].length).toBeLessThanOrEqual(TABLE_TEXT_MAX_LENGTH);
    expect(monospaceTable(rowsOf(rows + 1, 'ккккккккк'))).toBeNull();
  });

  it('sends a table wider than a phone can follow as CSV instead', () => {
    expect(monospaceTable(rowsOf(2, 'x'.repeat(TABLE_LINE_MAX_WIDTH)))).not.toBeNull();
    expect(monospaceTable(rowsOf(2, 'x'.repeat(TABLE_LINE_MAX_WIDTH + 1)))).toBeNull();
  });
});

describe('tableToCsv', () => {
  it('writes UTF-8 with a BOM, ";" separators, CRLF and RFC 4180 quoting', () => {
    const csv = tableToCsv({
      cells: [
        ['Город', 'Комментарий'],
        ['Москва', 'a;b "c"'],
        ['Сочи', ' padded'],
      ],
      headerRows: 1,
    });
    expect([...csv.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    expect(csv.subarray(3).toString('utf8')).toBe(
      'Город;Комментарий\r\nМосква;"a;b ""c"""\r\nСочи;" padded"\r\n',
    );
  });

  it('neutralises formulas as Superset does, but leaves negative numbers', () => {
    expect(escapeFormula('=1+2')).toBe("'=1+2");
    expect(escapeFormula('@SUM(A1)')).toBe("'@SUM(A1)");
    expect(escapeFormula('+7 999')).toBe("'+7 999");
    expect(escapeFormula('cmd|calc')).toBe('cmd|calc');
    expect(escapeFormula('|cmd')).toBe("'\\|cmd");
    expect(escapeFormula('-12.5')).toBe('-12.5');
    expect(escapeFormula('-x')).toBe("'-x");
  });
});

it('escapeHtml leaves nothing Telegram would parse as a tag or entity', () => {
  expect(escapeHtml('</pre><a href="x">&amp;')).toBe('&lt;/pre&gt;&lt;a href=&quot;x&quot;&gt;&amp;amp;');
});
