/**
 * The CSV files of `user|group|mailbox import` and `export`: reading what Excel, LibreOffice or a
 * SeaTable export writes, and writing what they open without surprises. Parsing and quoting are the
 * csv project's (csv-parse, csv-stringify); this module adds the rules around them:
 * - UTF-8, with or without a byte-order mark; the separator is `;` or `,`, whichever the header line
 *   has more of (Excel in a Russian locale writes `;`);
 * - bounded: a file past {@link CSV_LIMITS} is refused before it is parsed;
 * - every record keeps the line it starts on, for error messages;
 * - formula injection: a cell that Excel would run as a formula (starting with = + - @, a tab or a
 *   carriage return, and not a plain number) is written with a leading apostrophe, and that
 *   apostrophe is taken off again on import, so an export reads back unchanged.
 */
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';

/** A CSV file that cannot be read at all (too big, not UTF-8, broken quoting). */
export class CsvFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CsvFileError';
  }
}

export const CSV_LIMITS = {
  /** The largest file read, in bytes: a directory of 10,000 rows is far below it. */
  maxBytes: 10 * 1024 * 1024,
  /** The most data rows (the header not counted). */
  maxRows: 20_000,
  /** The longest record, in characters (a runaway quote swallowing the rest of the file stops here). */
  maxRecordChars: 64 * 1024,
} as const;

/** One data record of the file. */
export interface CsvRecord {
  /** The line the record starts on (1 is the header). */
  line: number;
  /** The cells, trimmed, with a neutralising apostrophe taken off. */
  cells: string[];
}

export interface CsvTable {
  /** The header's cells, trimmed. */
  header: string[];
  records: CsvRecord[];
  separator: ';' | ',';
}

export type CsvSeparator = ';' | ',';

const BOM = '\uFEFF';
/** What makes Excel (and LibreOffice) read a cell as a formula. */
const FORMULA_START = /^[=+\-@\t\r]/;
/** A plain number is data, not a formula: `-100123` (a group id), `+79991234567` (a phone). */
const PLAIN_NUMBER = /^[+-]?\d+(\.\d+)?$/;

/** Whether a cell needs an apostrophe in front so that a spreadsheet shows it instead of running it. */
export function needsNeutralising(cell: string): boolean {
  return FORMULA_START.test(cell) && !PLAIN_NUMBER.test(cell);
}

/** The separator of a file: the one of `;` and `,` its header line has more of (`,` when neither). */
export function detectSeparator(text: string): CsvSeparator {
  const firstLine = text.slice(0, text.search(/\r|\n|$/));
  const count = (char: string) => firstLine.split(char).length - 1;
  return count(';') > count(',') ? ';' : ',';
}

/** Reads a CSV file's bytes. Throws {@link CsvFileError} for a file that cannot be read as CSV. */
export function readCsv(bytes: Buffer): CsvTable {
  if (bytes.length > CSV_LIMITS.maxBytes) {
    throw new CsvFileError(
      `the file has ${bytes.length} bytes; at most ${CSV_LIMITS.maxBytes} are read (split it, or check it is the right file)`,
    );
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new CsvFileError(
      'the file is not UTF-8 text; save it as "CSV UTF-8" (Excel: File → Save As → CSV UTF-8)',
    );
  }
  if (text.startsWith(BOM)) text = text.slice(BOM.length);
  // one kind of line break, so that line numbers count right (also inside quoted cells)
  text = text.replace(/\r\n?/g, '\n');
  if (text.trim() === '') throw new CsvFileError('the file is empty: it needs at least a header line');
  const separator = detectSeparator(text);
  let parsed: Array<{ record: string[]; info: { lines: number } }>;
  try {
    parsed = parse(text, {
      delimiter: separator,
      info: true,
      relax_column_count: true,
      skip_empty_lines: true,
      // spaces around a separator (`a, "b"`) are not part of the cells
      trim: true,
      max_record_size: CSV_LIMITS.maxRecordChars,
      to: CSV_LIMITS.maxRows + 2,
    }) as unknown as typeof parsed;
  } catch (error) {
    const where = (error as { lines?: number }).lines;
    throw new CsvFileError(
      `${where ? `line ${where}: ` : ''}${(error as Error).message.replace(/^Invalid Record Length: /, '')}`,
    );
  }
  if (parsed.length > CSV_LIMITS.maxRows + 1) {
    throw new CsvFileError(`the file has more than ${CSV_LIMITS.maxRows} rows; at most that many are read`);
  }
  const records = parsed
    .map(({ record, info }) => ({
      // the info counts the line a record ends on; a quoted cell may span several
      line: info.lines - record.reduce((breaks, cell) => breaks + (cell.match(/\n/g)?.length ?? 0), 0),
      cells: record.map(unneutralise),
    }))
    // a line of separators only (what spreadsheets write for an empty row) is no record
    .filter((record) => record.cells.some((cell) => cell !== ''));
  const [header, ...rows] = records;
  if (!header) throw new CsvFileError('the file is empty: it needs at least a header line');
  return { header: header.cells, records: rows, separator };
}

function unneutralise(cell: string): string {
  const trimmed = cell.trim();
  return trimmed.startsWith("'") && needsNeutralising(trimmed.slice(1)) ? trimmed.slice(1) : trimmed;
}

/**
 * A CSV file's text: a byte-order mark (so that Excel reads UTF-8), the header, the rows; cells that
 * a spreadsheet would run as formulas are neutralised.
 */
export function writeCsv(
  header: readonly string[],
  rows: ReadonlyArray<readonly string[]>,
  separator: CsvSeparator,
): string {
  const neutralise = (cell: string) => (needsNeutralising(cell) ? `'${cell}` : cell);
  return (
    BOM +
    stringify([header as string[], ...rows.map((row) => row.map(neutralise))], {
      delimiter: separator,
      record_delimiter: 'windows',
      // a bare line break in a cell is quoted too (by itself the writer quotes only \r\n)
      quoted_match: /[\r\n]/,
    })
  );
}
