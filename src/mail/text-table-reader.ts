/**
 * Reads a TEXT report's table out of the HTML body: Superset puts `df.to_html(na_rep="", index=True)`
 * there, cleaned by nh3 down to table tags and the attributes colspan, rowspan, halign, border, class
 * (`superset/reports/notifications/email.py`), so the table is `<table border="1" class="dataframe">`
 * with `<thead>` header rows (several, with colspan, for pivoted columns) and `<th>` index cells (with
 * rowspan for a grouped index).
 *
 * The body comes from anyone who can send mail, so the work is bounded like html-summary.ts: one
 * streaming htmlparser2 pass over at most {@link MAX_TABLE_HTML} characters, with caps on nesting, cells,
 * columns and cell length; past a cap the rest is ignored and the table is marked truncated.
 */
import { Parser } from 'htmlparser2';
import type { TableGrid } from '../core/text-table.js';

/** Characters of the body looked at for the table (a 10,000-row, 5-column table is about 1.5 M). */
export const MAX_TABLE_HTML = 8 * 1024 * 1024;
/** Cells read; the rest of a bigger table is left out (and the table marked truncated). */
export const MAX_TABLE_CELLS = 200_000;
/**
 * Cells of the laid-out grid (rows × columns, after colspan and rowspan): a few small cells with large
 * spans must not become millions of blank ones.
 */
export const MAX_GRID_CELLS = 400_000;
/** Columns kept; wider rows are cut (and the table marked truncated). */
export const MAX_TABLE_COLUMNS = 200;
/** Characters kept of one cell. */
export const MAX_CELL_LENGTH = 2_000;
/**
 * Characters and elements of the body before the table is given up: Superset puts the description and
 * the link first (a few KB), so a table further down is not Superset's, and a hostile body costs no
 * more than its summary does.
 */
const MAX_HTML_BEFORE_TABLE = 256 * 1024;
const MAX_ELEMENTS_BEFORE_TABLE = 5_000;
/** Open elements past which the rest of the body is ignored (htmlparser2's stack costs O(depth)). */
const MAX_DEPTH = 64;
/** Largest colspan/rowspan honoured; pandas uses them for repeated labels only. */
const MAX_SPAN = 1_000;
const CHUNK_CHARACTERS = 16 * 1024;
const HIDDEN = new Set(['script', 'style', 'head', 'title', 'template']);

/** What {@link TextTableReader.end} found. */
export interface TableReading {
  grid: TableGrid;
  /** A cap was reached, or the body ended inside the table: the grid holds what was read. */
  truncated: boolean;
}

interface Cell {
  text: string;
  header: boolean;
  colspan: number;
  rowspan: number;
}

/** Finds the first `<table class="dataframe">` of an HTML body fed piece by piece, and reads its cells. */
export class TextTableReader {
  private readonly parser: Parser;
  /** 'before' the table, 'in' it, 'after' it (done). */
  private phase: 'before' | 'in' | 'after' = 'before';
  private depth = 0;
  /** Tables opened inside ours (their text joins the current cell). */
  private nestedTables = 0;
  private hidden = 0;
  private inHead = false;
  private rows: Array<{ cells: Cell[]; head: boolean }> = [];
  private row: { cells: Cell[]; head: boolean } | null = null;
  private cell: Cell | null = null;
  private cellCount = 0;
  private elementsBefore = 0;
  private scanned = 0;
  private truncated = false;
  private stopped = false;

  constructor() {
    this.parser = new Parser(
      {
        onopentag: (name, attributes) => this.open(name, attributes),
        onclosetag: (name) => this.close(name),
        ontext: (text) => this.text(text),
      },
      { decodeEntities: true, lowerCaseTags: true, lowerCaseAttributeNames: true },
    );
  }

  /** Feeds the next piece of the body. */
  write(html: string): void {
    for (let offset = 0; offset < html.length && !this.stopped; offset += CHUNK_CHARACTERS) {
      const room = MAX_TABLE_HTML - this.scanned;
      if (room <= 0) {
        this.stop(true);
        return;
      }
      if (this.phase === 'before' && this.scanned >= MAX_HTML_BEFORE_TABLE) {
        this.stop(false);
        return;
      }
      const piece = html.slice(offset, offset + Math.min(CHUNK_CHARACTERS, room));
      this.scanned += piece.length;
      this.parser.write(piece);
    }
  }

  /** Ends the body; null when it held no dataframe table (or one without a cell). */
  end(): TableReading | null {
    if (!this.stopped) {
      this.stopped = true;
      this.parser.end();
    }
    // a body cut off inside the table (or a table never closed) keeps what was read
    if (this.phase === 'in') {
      this.truncated = true;
      this.endRow();
    }
    if (this.rows.length === 0) return null;
    return { grid: this.layOut(), truncated: this.truncated };
  }

  private stop(truncated: boolean): void {
    if (truncated && this.phase === 'in') this.truncated = true;
    this.stopped = true;
    this.parser.pause();
  }

  private open(name: string, attributes: Record<string, string>): void {
    if (this.stopped) return;
    this.depth++;
    if (this.depth > MAX_DEPTH) {
      this.stop(true);
      return;
    }
    if (HIDDEN.has(name)) this.hidden++;
    if (this.phase === 'before') {
      if (++this.elementsBefore > MAX_ELEMENTS_BEFORE_TABLE) {
        this.stop(false);
        return;
      }
      if (name === 'table' && /(^|\s)dataframe(\s|$)/i.test(attributes.class ?? '')) {
        this.phase = 'in';
        this.tableDepth = this.depth;
      }
      return;
    }
    if (this.phase !== 'in') return;
    if (name === 'table') {
      this.nestedTables++;
      return;
    }
    if (this.nestedTables > 0) {
      if (name === 'br' || name === 'td' || name === 'th') this.appendText(' ');
      return;
    }
    if (name === 'thead') this.inHead = true;
    else if (name === 'tbody' || name === 'tfoot') this.inHead = false;
    else if (name === 'tr') {
      this.endRow();
      this.row = { cells: [], head: this.inHead };
    } else if (name === 'td' || name === 'th') {
      this.endCell();
      if (this.cellCount >= MAX_TABLE_CELLS) {
        this.stop(true);
        return;
      }
      if (!this.row) this.row = { cells: [], head: this.inHead };
      this.cellCount++;
      this.cell = {
        text: '',
        header: name === 'th',
        colspan: span(attributes.colspan),
        rowspan: span(attributes.rowspan),
      };
    } else if (name === 'br') this.appendText(' ');
  }

  /** Depth at which our table was opened. */
  private tableDepth = 0;

  private close(name: string): void {
    if (this.stopped) return;
    const depth = this.depth;
    this.depth = Math.max(0, this.depth - 1);
    if (HIDDEN.has(name)) this.hidden = Math.max(0, this.hidden - 1);
    if (this.phase !== 'in') return;
    if (name === 'table') {
      if (this.nestedTables > 0) {
        this.nestedTables--;
        return;
      }
      if (depth === this.tableDepth) {
        this.endRow();
        this.phase = 'after';
        this.stop(false);
      }
      return;
    }
    if (this.nestedTables > 0) return;
    if (name === 'td' || name === 'th') this.endCell();
    else if (name === 'tr') this.endRow();
    else if (name === 'thead') this.inHead = false;
  }

  private text(text: string): void {
    if (this.stopped || this.phase !== 'in' || this.hidden > 0) return;
    this.appendText(text);
  }

  private appendText(text: string): void {
    if (!this.cell || this.cell.text.length >= MAX_CELL_LENGTH) return;
    this.cell.text += text.slice(0, MAX_CELL_LENGTH);
  }

  private endCell(): void {
    if (!this.cell || !this.row) return;
    this.row.cells.push({ ...this.cell, text: cleanCell(this.cell.text) });
    this.cell = null;
  }

  private endRow(): void {
    this.endCell();
    if (this.row && this.row.cells.length > 0) this.rows.push(this.row);
    this.row = null;
  }

  /** Places the cells on a grid, honouring colspan and rowspan (the label in the first cell, the rest blank). */
  private layOut(): TableGrid {
    const grid: string[][] = [];
    const spanGrid: number[][] = [];
    /** Rows still covered by a rowspan, per column. */
    const covered: number[] = [];
    let placed = 0;
    for (const row of this.rows) {
      if (placed > MAX_GRID_CELLS) {
        this.truncated = true;
        break;
      }
      const line: string[] = [];
      const spans: number[] = [];
      let column = 0;
      const skipCovered = () => {
        while ((covered[column] ?? 0) > 0) {
          line[column] = '';
          spans[column] = 1;
          covered[column]!--;
          column++;
        }
      };
      for (const cell of row.cells) {
        skipCovered();
        for (let offset = 0; offset < cell.colspan; offset++) {
          if (column >= MAX_TABLE_COLUMNS) {
            this.truncated = true;
            break;
          }
          line[column] = offset === 0 ? cell.text : '';
          spans[column] = offset === 0 ? cell.colspan : 0;
          if (cell.rowspan > 1) covered[column] = Math.max(covered[column] ?? 0, cell.rowspan - 1);
          column++;
        }
      }
      skipCovered();
      placed += line.length;
      grid.push(line);
      spanGrid.push(spans);
    }
    // a loop, not Math.max(...): a spread of 200,000 arguments overflows the stack
    const width = grid.reduce((widest, line) => Math.max(widest, line.length), 0);
    const keptRows = Math.max(1, Math.floor(MAX_GRID_CELLS / Math.max(1, width)));
    if (grid.length > keptRows) {
      this.truncated = true;
      grid.length = keptRows;
      spanGrid.length = keptRows;
    }
    const cells = grid.map((line) => Array.from({ length: width }, (_, index) => line[index] ?? ''));
    // a span cut by MAX_TABLE_COLUMNS or by the table's width covers only the columns that exist
    const spans = spanGrid.map((line) =>
      Array.from({ length: width }, (_, index) => Math.min(line[index] ?? 1, width - index)),
    );
    let headerRows = this.rows.findIndex((row) => !row.head);
    if (headerRows < 0) headerRows = this.rows.length;
    if (headerRows === 0) {
      // no <thead>: leading rows made only of <th> cells are the header
      headerRows = this.rows.findIndex((row) => !row.cells.every((cell) => cell.header));
      if (headerRows < 0 || headerRows === this.rows.length) headerRows = Math.min(1, this.rows.length - 1);
    }
    headerRows = Math.min(headerRows, cells.length);
    return { cells, headerRows, ...(spans.some((line) => line.some((span) => span !== 1)) ? { spans } : {}) };
  }
}

function span(value: string | undefined): number {
  const parsed = Number.parseInt(value ?? '1', 10);
  return Number.isFinite(parsed) && parsed >= 1 ? Math.min(parsed, MAX_SPAN) : 1;
}

/** A cell's text on one line: whitespace collapsed, control and bidi-override characters removed. */
function cleanCell(text: string): string {
  return text
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, '')
    .replace(/[\s\u00a0]+/g, ' ')
    .trim();
}
