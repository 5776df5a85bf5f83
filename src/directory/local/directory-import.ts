/**
 * Import and export of one table of the embedded directory as CSV. An import makes the table what the
 * file says: rows whose key (Email, Phone, Name) the directory lacks are added, rows that differ are
 * changed, and entries the file does not list are removed. It is planned first (every row checked,
 * every bad row listed with its line), then carried out in one database transaction through the same
 * LocalDirectory methods as the CLI's add/edit/remove, so it obeys the same rules; a row the directory
 * still refuses rolls the whole import back. A dry run carries it out too, and rolls it back.
 */
import type { SqlDatabase } from '../../store/sql-database.js';
import type { DirectorySnapshot } from '../directory.js';
import { type CsvSeparator, type CsvTable, writeCsv } from './csv-file.js';
import {
  type CellContext,
  CellError,
  type CsvColumn,
  type CsvTableSpec,
  KEEP,
} from './directory-csv-tables.js';
import type { LocalDirectory } from './local-directory.js';

/** A problem with the file as a whole (its header); nothing is read. */
export class CsvHeaderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CsvHeaderError';
  }
}

export interface RowProblem {
  /** The file's line; 0 for the removal of an entry the file does not list. */
  line: number;
  message: string;
}

export interface PlannedAdd {
  line: number;
  key: string;
  fields: Record<string, unknown>;
}

export interface ColumnChange {
  column: string;
  field: string;
  from: string;
  to: string;
  secret: boolean;
}

export interface PlannedChange<E> {
  line: number;
  entry: E;
  changes: ColumnChange[];
  /** The fields whose value differs. */
  fields: Record<string, unknown>;
  /** Every field of the row, as completed. */
  allFields: Record<string, unknown>;
}

export interface ImportPlan<E> {
  spec: CsvTableSpec<E & { key: string }>;
  /** Bad rows; while there is one, nothing is applied. */
  problems: RowProblem[];
  adds: PlannedAdd[];
  changes: Array<PlannedChange<E>>;
  removes: E[];
  unchanged: number;
  /** Columns of the table the file does not have: their values stay as they are (or the default). */
  absentColumns: string[];
}

/** The columns of the file in the table's order, or a {@link CsvHeaderError} naming the expected ones. */
function matchHeader<E>(
  spec: CsvTableSpec<E & { key: string }>,
  header: string[],
): Array<CsvColumn<E> | null> {
  const expected = spec.columns.map((column) => column.name);
  const describe = `the ${spec.table} columns are: ${expected.join(', ')} (required: ${spec.columns
    .filter((column) => column.required)
    .map((column) => column.name)
    .join(', ')})`;
  const seen = new Set<string>();
  const matched = header.map((name) => {
    const column = spec.columns.find((candidate) => candidate.name.toLowerCase() === name.toLowerCase());
    if (!column) throw new CsvHeaderError(`unknown column "${name}" in the header; ${describe}`);
    if (seen.has(column.name))
      throw new CsvHeaderError(`column "${column.name}" appears twice in the header`);
    seen.add(column.name);
    return column as CsvColumn<E>;
  });
  const missing = spec.columns.filter((column) => column.required && !seen.has(column.name));
  if (missing.length > 0) {
    throw new CsvHeaderError(
      `the header lacks ${missing.map((column) => `"${column.name}"`).join(', ')}; ${describe}`,
    );
  }
  return matched;
}

function isBlank(value: unknown): boolean {
  return value === null || value === undefined || (Array.isArray(value) && value.length === 0);
}

/** Compares the file with the directory: what would be added, changed and removed, and the bad rows. */
export function planImport<E extends { key: string }>(
  spec: CsvTableSpec<E>,
  file: CsvTable,
  snapshot: DirectorySnapshot,
  context: CellContext,
): ImportPlan<E> {
  const columns = matchHeader(spec, file.header);
  const keyColumn = spec.columns.find((column) => column.name === spec.keyColumn)!;
  const entries = new Map(spec.entries(snapshot).map((entry) => [String(keyColumn.value(entry)), entry]));
  const plan: ImportPlan<E> = {
    spec,
    problems: [],
    adds: [],
    changes: [],
    removes: [],
    unchanged: 0,
    absentColumns: spec.columns.filter((column) => !columns.includes(column)).map((column) => column.name),
  };
  const firstLineOf = new Map<string, number>();
  const listed = new Set<string>();
  for (const record of file.records) {
    const problem = (message: string) => plan.problems.push({ line: record.line, message });
    if (record.cells.length > columns.length) {
      problem(
        `${record.cells.length} cells, but the header has ${columns.length} (a separator inside a cell needs quotes)`,
      );
      continue;
    }
    const read = new Map<CsvColumn<E>, unknown>();
    let bad = false;
    columns.forEach((column, index) => {
      if (!column) return;
      try {
        read.set(column, column.read(record.cells[index] ?? '', context));
      } catch (error) {
        if (!(error instanceof CellError)) throw error;
        problem(`${column.name}: ${error.message}`);
        bad = true;
      }
    });
    if (bad) continue;
    const key = String(read.get(keyColumn));
    listed.add(key);
    const entry = entries.get(key);
    // every column's value: read from the file; kept (blank, or absent from the file) from the entry;
    // for a new row, a column absent from the file is read as a blank cell
    const fields: Record<string, unknown> = {};
    const written = new Set<string>();
    for (const column of spec.columns) {
      if (read.has(column) && read.get(column) !== KEEP) written.add(column.field);
      let value = read.has(column) ? read.get(column) : entry ? KEEP : column.read('', context);
      if (value === KEEP) value = entry ? column.value(entry) : null;
      if (column.requiredForNew && isBlank(value) && (!entry || !isBlank(column.value(entry))))
        problem(
          entry
            ? `${column.name}: is empty; ${column.requiredForNew} (to remove the ${spec.noun}, leave its row out)`
            : `${column.name}: a new ${spec.noun} needs it (${column.requiredForNew})`,
        );
      fields[column.field] = value;
    }
    if (plan.problems.at(-1)?.line === record.line) continue;
    try {
      spec.complete?.(fields, entry ? { entry, written } : { written });
    } catch (error) {
      if (!(error instanceof CellError)) throw error;
      problem(error.message);
      continue;
    }
    // after blanks are resolved: a Telegram ID kept from the directory counts as much as one written
    for (const column of spec.columns) {
      const value = fields[column.field];
      if (!column.unique || value === null || value === undefined) continue;
      const unique = `${column.name}\u0000${String(value)}`;
      const seenAt = firstLineOf.get(unique);
      if (seenAt === undefined) {
        firstLineOf.set(unique, record.line);
        continue;
      }
      const kept =
        !read.has(column) || read.get(column) === KEEP ? ' (kept from the directory: the cell is blank)' : '';
      problem(
        `${column.name} ${column.format(value)}${kept} is also on line ${seenAt}; each may appear once`,
      );
      bad = true;
    }
    if (bad) continue;
    if (!entry) {
      plan.adds.push({ line: record.line, key, fields });
      continue;
    }
    const changes: ColumnChange[] = [];
    const changed: Record<string, unknown> = {};
    for (const column of spec.columns) {
      const now = column.value(entry);
      const next = fields[column.field];
      if (JSON.stringify(now) === JSON.stringify(next)) continue;
      changed[column.field] = next;
      changes.push({
        column: column.name,
        field: column.field,
        from: column.format(now),
        to: column.format(next),
        secret: column.secret === true,
      });
    }
    if (changes.length === 0) plan.unchanged += 1;
    else plan.changes.push({ line: record.line, entry, changes, fields: changed, allFields: fields });
  }
  plan.removes = [...entries.entries()].filter(([key]) => !listed.has(key)).map(([, entry]) => entry);
  return plan;
}

/** The outcome of carrying out a plan. */
export interface ImportOutcome<T> {
  /** Rows the directory refused while carrying out the plan; when any, the import was rolled back. */
  problems: RowProblem[];
  committed: boolean;
  /** What `inspect` found with the changes in place (before a dry run's rollback). */
  inspected: T | undefined;
}

class Rollback extends Error {}

/**
 * Carries out a plan in one transaction: removals first (they free phones, titles and chat ids), then
 * changes, then additions. Commits when `commit` is set and no row failed; otherwise rolls back.
 * `inspect` runs with the changes in place, before the commit or rollback.
 */
export async function applyImport<E extends { key: string }, T>(
  directory: LocalDirectory,
  db: SqlDatabase,
  plan: ImportPlan<E>,
  options: { commit: boolean; inspect?: () => Promise<T> },
): Promise<ImportOutcome<T>> {
  if (plan.problems.length > 0) throw new Error('a plan with bad rows is never applied');
  const problems: RowProblem[] = [];
  let inspected: T | undefined;
  const attempt = async (line: number, action: () => Promise<void>) => {
    try {
      // a savepoint: a refused row leaves nothing half-written behind it
      await db.transaction(action);
    } catch (error) {
      problems.push({ line, message: error instanceof Error ? error.message : String(error) });
    }
  };
  let committed = false;
  try {
    await db.transaction(async () => {
      // one read of the directory at the end, not one per row
      await directory.batch(async () => {
        for (const entry of plan.removes)
          await attempt(0, async () => {
            try {
              await plan.spec.remove(directory, entry);
            } catch (error) {
              throw new Error(
                `removing ${plan.spec.noun} ${plan.spec.label(entry)}: ${(error as Error).message}`,
              );
            }
          });
        for (const change of plan.changes)
          await attempt(change.line, () =>
            plan.spec.edit(directory, change.entry, change.fields, change.allFields),
          );
        for (const add of plan.adds) await attempt(add.line, () => plan.spec.add(directory, add.fields));
      });
      inspected = await options.inspect?.();
      if (problems.length > 0 || !options.commit) throw new Rollback();
    });
    committed = true;
  } catch (error) {
    if (!(error instanceof Rollback)) throw error;
  }
  // the directory's copy saw the rolled-back rows: read it again
  await directory.refresh();
  return { problems, committed, inspected };
}

/** The table as CSV text, in the order of the directory; `header` and `rows` as written. */
export function exportTable<E extends { key: string }>(
  spec: CsvTableSpec<E>,
  snapshot: DirectorySnapshot,
  separator: CsvSeparator,
): string {
  const header = spec.columns.map((column) => column.name);
  const rows = spec
    .entries(snapshot)
    .map((entry) => spec.columns.map((column) => column.format(column.value(entry))));
  return writeCsv(header, rows, separator);
}
