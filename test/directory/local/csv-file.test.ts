/** Reading and writing the directory's CSV files: what Excel, LibreOffice and SeaTable write and open. */
import { describe, expect, it } from 'vitest';
import { CSV_LIMITS, CsvFileError, readCsv, writeCsv } from '../../../src/directory/local/csv-file.js';

const utf8 = (text: string) => Buffer.from(text, 'utf8');

describe('readCsv', () => {
  it('reads Excel-in-Russian files: BOM, ";" separators, CRLF, quoted cells with separators and line breaks', () => {
    const file = readCsv(
      utf8(
        '\uFEFFName;Phone;Mailboxes\r\n"Петров; Иван";+7 999 123-45-67;"a@x.ru\r\nb@x.ru"\r\n;;\r\nАнна;89990000001;a@x.ru\r\n',
      ),
    );
    expect(file.separator).toBe(';');
    expect(file.header).toEqual(['Name', 'Phone', 'Mailboxes']);
    expect(file.records).toEqual([
      { line: 2, cells: ['Петров; Иван', '+7 999 123-45-67', 'a@x.ru\nb@x.ru'] },
      // line 4 (separators only) is an empty row: no record; the next keeps its own line number
      { line: 5, cells: ['Анна', '89990000001', 'a@x.ru'] },
    ]);
  });

  it('reads "," files without a BOM, and trims cells', () => {
    const file = readCsv(utf8('Name,Phone\n  Ann , "+1 555 0100"\n\n"B, C",2\n'));
    expect(file.separator).toBe(',');
    expect(file.records).toEqual([
      { line: 2, cells: ['Ann', '+1 555 0100'] },
      { line: 4, cells: ['B, C', '2'] },
    ]);
  });

  it('refuses what is not a CSV table: not UTF-8, empty, an unclosed quote, too big, too many rows', () => {
    const fails = (bytes: Buffer) => {
      try {
        readCsv(bytes);
      } catch (error) {
        expect(error).toBeInstanceOf(CsvFileError);
        return (error as Error).message;
      }
      throw new Error('read without complaint');
    };
    // "Имя" in Windows-1251, what Excel writes for plain "CSV" in a Russian locale
    expect(fails(Buffer.from([0xc8, 0xec, 0xff, 0x3b, 0x41, 0x0a]))).toContain('not UTF-8');
    expect(fails(utf8('\uFEFF \r\n'))).toContain('empty');
    expect(fails(utf8('Name,Phone\n"Ann,1\nBob,2\n'))).toMatch(/quote/i);
    expect(fails(Buffer.alloc(CSV_LIMITS.maxBytes + 1, 0x41))).toContain(`at most ${CSV_LIMITS.maxBytes}`);
    const manyRows = `Name\n${'x\n'.repeat(CSV_LIMITS.maxRows + 1)}`;
    expect(fails(utf8(manyRows))).toContain(`more than ${CSV_LIMITS.maxRows} rows`);
    // a runaway quote does not swallow a huge file into one record
    expect(fails(utf8(`Name\n"${'x'.repeat(CSV_LIMITS.maxRecordChars + 10)}`))).toMatch(
      /max_record_size|record/i,
    );
  });
});

describe('writeCsv', () => {
  it('neutralises formulas for spreadsheets and reads them back unchanged', () => {
    const cells = [
      '=HYPERLINK("http://evil","x")',
      '+SUM(1)',
      '-2+3',
      '@cmd',
      '+79991234567',
      '-1001234567890',
      "'already quoted",
      'plain; with separator',
      'line\nbreak',
    ];
    const text = writeCsv(
      ['A'],
      cells.map((cell) => [cell]),
      ';',
    );
    expect(text.startsWith('\uFEFF')).toBe(true);
    const lines = text.slice(1).split('\r\n');
    expect(lines.slice(1, 5)).toEqual([`"'=HYPERLINK(""http://evil"",""x"")"`, "'+SUM(1)", "'-2+3", "'@cmd"]);
    // plain numbers are data, not formulas: phones and group ids stay as they are
    expect(lines.slice(5, 7)).toEqual(['+79991234567', '-1001234567890']);
    expect(readCsv(utf8(text)).records.map((record) => record.cells[0])).toEqual(cells);
  });
});
