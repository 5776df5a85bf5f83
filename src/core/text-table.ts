/**
 * A TEXT report's table as Telegram shows it: aligned columns in a monospace `<pre>` block when it fits in
 * one message, otherwise a CSV document. Plain data: the grid comes from the mail parser.
 */
import { codePointLength, MESSAGE_TEXT_MAX_LENGTH } from './caption.js';

/** A table as read from the body: header rows first, every row as long as the widest. */
export interface TableGrid {
  /** The cells' text, row by row. */
  cells: string[][];
  /** How many of the first rows are header rows (`<thead>`, or leading rows of `<th>` cells). */
  headerRows: number;
  /**
   * Parallel to `cells`, where a cell spans columns (`colspan`): the number of columns of a label that
   * spans several, 0 for the columns it covers, 1 otherwise. Absent: every cell is one column.
   */
  spans?: number[][];
}

/**
 * Characters of a message kept for the caption (subject and link) above the table; the caption is cut
 * to what is left, so a table up to {@link TABLE_TEXT_MAX_LENGTH} always fits.
 */
export const TABLE_CAPTION_ROOM = 200;
/** Longest monospace table sent as a message: Telegram's 4096 characters less the caption and a blank line. */
export const TABLE_TEXT_MAX_LENGTH = MESSAGE_TEXT_MAX_LENGTH - TABLE_CAPTION_ROOM - 2;
/**
 * Widest line of a monospace table, in columns. A phone shows about 40; past this a `<pre>` line wraps
 * so often that the columns are lost, and the CSV document reads better.
 */
export const TABLE_LINE_MAX_WIDTH = 100;
/** Blank columns between two table columns. */
const COLUMN_GAP = '  ';
/** Separator of the generated CSV: Excel with a Russian (and most European) locale splits on `;`. */
export const CSV_SEPARATOR = ';';

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/**
 * Columns a text takes in a monospace font: one per grapheme (Cyrillic, Latin, a letter with combining
 * marks), two for East Asian wide and fullwidth characters and emoji, none for controls and format
 * characters. Telegram's clients use such a font for `<pre>`.
 */
export function displayWidth(text: string): number {
  let width = 0;
  for (const { segment } of graphemes.segment(text)) {
    const first = segment.codePointAt(0)!;
    if (/^[\p{Cc}\p{Cf}]+$/u.test(segment)) continue;
    width += isWide(first) || /\p{Extended_Pictographic}/u.test(segment) ? 2 : 1;
  }
  return width;
}

function isWide(codePoint: number): boolean {
  return (
    (codePoint >= 0x1100 && codePoint <= 0x115f) ||
    (codePoint >= 0x2e80 && codePoint <= 0xa4cf && codePoint !== 0x303f) ||
    (codePoint >= 0xac00 && codePoint <= 0xd7a3) ||
    (codePoint >= 0xf900 && codePoint <= 0xfaff) ||
    (codePoint >= 0xfe30 && codePoint <= 0xfe4f) ||
    (codePoint >= 0xff00 && codePoint <= 0xff60) ||
    (codePoint >= 0xffe0 && codePoint <= 0xffe6) ||
    (codePoint >= 0x20000 && codePoint <= 0x3fffd)
  );
}

/** A number as pandas prints one (`12.5`, `-3`, `1 250`, `7%`): right-aligned in its column. */
function isNumeric(cell: string): boolean {
  return /^[-+−]?[\d\s\u00a0.,]*\d[\d\s\u00a0.,]*%?$/.test(cell);
}

/**
 * Drops pandas' default index: a first column whose header cells are empty and whose body cells are
 * 0, 1, 2, … (Superset's table charts) carries nothing a reader needs.
 */
export function withoutRangeIndex(grid: TableGrid): TableGrid {
  const { cells, headerRows } = grid;
  const body = cells.slice(headerRows);
  if (body.length === 0 || (cells[0]?.length ?? 0) < 2) return grid;
  const headerEmpty = cells.slice(0, headerRows).every((row) => (row[0] ?? '') === '');
  const counting = body.every((row, index) => row[0] === String(index));
  if (!headerEmpty || !counting) return grid;
  return {
    cells: cells.map((row) => row.slice(1)),
    headerRows,
    ...(grid.spans ? { spans: grid.spans.map((row) => row.slice(1)) } : {}),
  };
}

/**
 * The table in aligned columns: header rows, a line of dashes, the body; numbers right-aligned, text
 * left-aligned, two spaces between columns, no trailing spaces.
 */
export function layOutTable(grid: TableGrid): string {
  const { cells, headerRows } = grid;
  const spanOf = (row: number, column: number) => grid.spans?.[row]?.[column] ?? 1;
  // loops, not Math.max(...): a table may have far more rows than a call has room for arguments
  const columnCount = cells.reduce((widest, row) => Math.max(widest, row.length), 0);
  const widths = new Array<number>(columnCount).fill(0);
  cells.forEach((row, index) => {
    for (let column = 0; column < columnCount; column++) {
      if (spanOf(index, column) !== 1) continue;
      widths[column] = Math.max(widths[column]!, displayWidth(row[column] ?? ''));
    }
  });
  // a label spanning columns gets their joint width; when it is wider still, its last column grows
  cells.forEach((row, index) => {
    row.forEach((cell, column) => {
      const span = spanOf(index, column);
      if (span <= 1) return;
      const last = Math.min(column + span, columnCount) - 1;
      const room =
        widths.slice(column, last + 1).reduce((sum, width) => sum + width, 0) +
        (last - column) * COLUMN_GAP.length;
      if (displayWidth(cell) > room) widths[last]! += displayWidth(cell) - room;
    });
  });
  const rightAligned = widths.map((_, column) => {
    const values = cells
      .slice(headerRows)
      .map((row) => row[column] ?? '')
      .filter(Boolean);
    return values.length > 0 && values.every(isNumeric);
  });
  const line = (row: string[], index: number) => {
    const pieces: string[] = [];
    for (let column = 0; column < widths.length; column++) {
      const cell = row[column] ?? '';
      const span = Math.max(1, Math.min(spanOf(index, column), widths.length - column));
      // a spanning label is laid over its columns, left-aligned, as pandas prints it
      const width =
        widths.slice(column, column + span).reduce((sum, value) => sum + value, 0) +
        (span - 1) * COLUMN_GAP.length;
      const pad = ' '.repeat(Math.max(0, width - displayWidth(cell)));
      pieces.push(rightAligned[column] && span === 1 ? pad + cell : cell + pad);
      column += span - 1;
    }
    return pieces.join(COLUMN_GAP).trimEnd();
  };
  const lines = cells.slice(0, headerRows).map((row, index) => line(row, index));
  if (headerRows > 0) lines.push(widths.map((width) => '-'.repeat(width)).join(COLUMN_GAP));
  lines.push(...cells.slice(headerRows).map((row, index) => line(row, headerRows + index)));
  return lines.join('\n');
}

/**
 * The monospace text of a table when it fits in one message beside a caption
 * ({@link TABLE_TEXT_MAX_LENGTH} characters, lines of at most {@link TABLE_LINE_MAX_WIDTH} columns);
 * null when it must go as a CSV document.
 */
export function monospaceTable(grid: TableGrid): string | null {
  // every row is a line of at least one character: more rows than half the limit cannot fit
  if (grid.cells.length === 0 || grid.cells.length > TABLE_TEXT_MAX_LENGTH / 2) return null;
  const text = layOutTable(grid);
  if (codePointLength(text) > TABLE_TEXT_MAX_LENGTH) return null;
  if (text.split('\n').some((line) => displayWidth(line) > TABLE_LINE_MAX_WIDTH)) return null;
  return text;
}

/**
 * Superset's own CSV escaping (`superset/utils/csv.py`, `escape_value`): a cell a spreadsheet would run
 * as a formula (`=`, `+`, `-`, `@`, `|`, `%` first, possibly after spaces or `""`) gets a leading `'`;
 * negative numbers stay numbers.
 */
export function escapeFormula(cell: string): string {
  if (/^-\d+(\.\d+)?$/.test(cell.trim())) return cell;
  if (!/^(?:""|\s+)?[-@+|=%]/.test(cell)) return cell;
  return `'${cell.replace(/\|/g, '\\|')}`;
}

/**
 * The table as a CSV file for Excel: UTF-8 with a byte order mark (without it Excel reads UTF-8 as the
 * local code page), `;` between fields, CRLF line ends, RFC 4180 quoting, formulas neutralised as
 * Superset does for its own CSV.
 */
export function tableToCsv(grid: TableGrid): Buffer {
  const field = (raw: string): string => {
    const cell = escapeFormula(raw);
    return /[";\r\n]|^\s|\s$/.test(cell) ? `"${cell.replace(/"/g, '""')}"` : cell;
  };
  const text = grid.cells.map((row) => row.map(field).join(CSV_SEPARATOR)).join('\r\n');
  return Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(`${text}\r\n`, 'utf8')]);
}

/** Escapes text for Telegram's HTML parse mode (`<`, `>`, `&`; quotes inside attribute values). */
export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
