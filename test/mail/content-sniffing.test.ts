/** Recognising CSV, XLSX and ZIP by their bytes, from a prefix and a suffix (a stream or a buffered upload). */
import { describe, expect, it } from 'vitest';
import {
  CsvTextCheck,
  classifyZip,
  csvTextProblem,
  ZIP_TAIL_BYTES,
  zipEntryNames,
} from '../../src/mail/content-sniffing.js';
import { makeXlsx, makeZip, pseudoRandomBytes } from '../fixtures/sample-files.js';

const headOf = (bytes: Buffer) => bytes.subarray(0, 1024);
const tailOf = (bytes: Buffer) => bytes.subarray(-ZIP_TAIL_BYTES);

describe('classifyZip', () => {
  it('tells an XLSX from a ZIP of CSV files', () => {
    const xlsx = makeXlsx([['a'], [1]]);
    const zip = makeZip([{ name: 'a.csv', data: 'a\n1\n' }]);
    expect(classifyZip(headOf(xlsx), tailOf(xlsx))).toBe('xlsx');
    expect(classifyZip(headOf(zip), tailOf(zip))).toBe('zip');
  });

  it('finds [Content_Types].xml written last through the central directory alone', () => {
    const xlsx = makeXlsx([['a'], [1]], { contentTypesLast: true });
    expect(classifyZip(headOf(xlsx), tailOf(xlsx))).toBe('xlsx');
    // without the tail only the local headers in the head are seen: not enough to call it a workbook
    expect(classifyZip(headOf(xlsx).subarray(0, 200), Buffer.alloc(0))).toBe('zip');
  });

  it('a ZIP that only names [Content_Types].xml, without a workbook, is a ZIP', () => {
    const zip = makeZip([{ name: '[Content_Types].xml', data: '<Types/>' }]);
    expect(classifyZip(headOf(zip), tailOf(zip))).toBe('zip');
  });

  it('reads a central directory larger than the tail as far as it reaches, never past it', () => {
    const many = makeZip(
      Array.from({ length: 3000 }, (_, index) => ({ name: `dir/file-${index}.csv`, data: 'x' })),
    );
    const names = zipEntryNames(headOf(many), tailOf(many));
    // the directory does not fit the 64 KiB tail: only what the head's local headers name
    expect(names.length).toBeLessThan(3000);
    expect(names.every((name) => name.startsWith('dir/file-'))).toBe(true);
  });

  it('survives garbage that carries the signatures', () => {
    const junk = Buffer.concat([
      Buffer.from('PK\x03\x04', 'latin1'),
      pseudoRandomBytes(2000, 'zip-junk'),
      Buffer.from('PK\x05\x06', 'latin1'),
      Buffer.alloc(18, 0xff),
    ]);
    expect(() => zipEntryNames(headOf(junk), tailOf(junk))).not.toThrow();
    expect(classifyZip(headOf(junk), tailOf(junk))).toBe('zip');
  });
});

describe('CSV text', () => {
  it('accepts UTF-8 with or without a BOM, and a character split between two pieces', () => {
    expect(csvTextProblem(Buffer.from('\ufeffa;b\r\n1;2\r\n'))).toBeNull();
    const bytes = Buffer.from('город,сумма\nМосква,1\n');
    const check = new CsvTextCheck();
    check.write(bytes.subarray(0, 1));
    check.write(bytes.subarray(1));
    expect(check.end()).toBeNull();
  });

  it('refuses markup, NUL bytes, other encodings and a cut character', () => {
    expect(csvTextProblem(Buffer.from('<html><body>502</body></html>'))).toContain('markup');
    expect(csvTextProblem(Buffer.from('<?xml version="1.0"?><a/>'))).toContain('markup');
    expect(csvTextProblem(Buffer.from('a,b\n1,\u0000\n'))).toContain('binary');
    expect(csvTextProblem(Buffer.from('Jos\xe9\n', 'latin1'))).toContain('not UTF-8');
    expect(csvTextProblem(Buffer.from('ж', 'utf8').subarray(0, 1))).toContain('not UTF-8');
    expect(csvTextProblem(Buffer.from('   \n'))).toBe('empty');
  });
});
