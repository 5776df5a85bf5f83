/**
 * The one per-part reader both ways in use (mail parts, webhook files): the same outcome however the
 * bytes are cut into chunks, the size cap, abandoning, and the names of a report's files.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ForwardFileType } from '../../src/core/report.js';
import { FilePartReader, reportFileNames } from '../../src/mail/file-part-reader.js';
import { makeCsv, makePdf, makeXlsx } from '../fixtures/sample-files.js';

const root = mkdtempSync(path.join(tmpdir(), 'stb-part-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let run = 0;

function read(
  bytes: Buffer,
  declared: { type: string; name: string | null },
  options: { chunk?: number; forward?: ForwardFileType[]; maxFileBytes?: number } = {},
) {
  const dir = path.join(root, String(++run));
  const reader = new FilePartReader({
    declaredType: declared.type,
    filename: declared.name,
    spool: () => {
      mkdirSync(dir, { recursive: true });
      return dir;
    },
    maxFileBytes: options.maxFileBytes ?? 1024 * 1024,
    forward: new Set(options.forward ?? ['pdf', 'png', 'csv', 'xlsx']),
  });
  const size = options.chunk ?? bytes.length;
  for (let offset = 0; offset < bytes.length; offset += size)
    reader.write(bytes.subarray(offset, offset + size));
  return { reader, dir, outcome: () => reader.finish() };
}

describe('FilePartReader', () => {
  const xlsx = makeXlsx([
    ['region', 'sales'],
    ['north', 1],
  ]);
  const declaredXlsx = {
    type: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
    name: 'report.xlsx',
  };

  it('judges a part the same whether it comes whole or a few bytes at a time, and keeps its exact bytes', () => {
    const whole = read(xlsx, declaredXlsx).outcome();
    const trickled = read(xlsx, declaredXlsx, { chunk: 7 }).outcome();
    for (const outcome of [whole, trickled]) {
      expect(outcome).toMatchObject({
        kind: 'file',
        type: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
        size: xlsx.length,
      });
      if (outcome.kind === 'file') expect(readFileSync(outcome.path).equals(xlsx)).toBe(true);
    }
    expect(trickled.sha256).toBe(whole.sha256);
  });

  it('does not spool a kind FORWARD_FILE_TYPES leaves out, and says why as for any part', () => {
    const csv = Buffer.from(makeCsv([['a', 'b']]));
    const { dir, outcome } = read(csv, { type: 'text/csv', name: 'report.csv' }, { forward: ['pdf', 'png'] });
    expect(outcome()).toMatchObject({
      kind: 'skipped',
      part: { filename: 'report.csv', reason: 'CSV: only PDF and PNG files are forwarded' },
    });
    expect(existsSync(dir) ? readdirSync(dir) : []).toEqual([]);
  });

  it('skips a forwarded kind over the size cap with its size (recipients get a notice) and leaves no file', () => {
    const pdf = makePdf({ fillerBytes: 64 * 1024 });
    const { dir, outcome } = read(
      pdf,
      { type: 'application/pdf', name: 'report.pdf' },
      { maxFileBytes: 10_000, chunk: 4096 },
    );
    expect(outcome()).toMatchObject({ kind: 'skipped', part: { tooLargeBytes: pdf.length } });
    expect(readdirSync(dir)).toEqual([]);
  });

  it('removes what it wrote when abandoned', () => {
    const pdf = makePdf({ fillerBytes: 8 * 1024 });
    const { reader, dir } = read(pdf.subarray(0, 4096), { type: 'application/pdf', name: 'report.pdf' });
    expect(readdirSync(dir)).toHaveLength(1);
    reader.abandon();
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('reportFileNames', () => {
  it('numbers nameless files per type and makes duplicates unique, in order', () => {
    expect(
      reportFileNames([
        { declaredName: null, type: 'image/png' },
        { declaredName: null, type: 'application/pdf' },
        { declaredName: null, type: 'image/png' },
        { declaredName: 'report.csv', type: 'text/csv' },
        { declaredName: 'report.csv', type: 'text/csv' },
        { declaredName: 'report.csv', type: 'application/zip' },
      ]),
    ).toEqual([
      'screenshot-1.png',
      'report-1.pdf',
      'screenshot-2.png',
      'report.csv',
      'report (2).csv',
      'report.csv.zip',
    ]);
  });
});
