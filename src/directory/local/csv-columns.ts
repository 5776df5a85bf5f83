/**
 * The building blocks of the embedded directory's CSV tables (directory-csv-tables.ts): the column
 * and table types, the cell readers (yes/no, whole numbers, lists) and the columns several tables
 * share (Media mode, Tall image mode, Mailboxes, Telegram ID, Active).
 */
import type { CountryCode } from 'libphonenumber-js';
import { type MediaMode, TALL_IMAGE_MODES, type TallImageMode } from '../../core/message-plan.js';
import type { DirectorySnapshot } from '../directory.js';
import type { DirectoryTable } from '../seatable/seatable-schema.js';
import type { LocalDirectory } from './local-directory.js';

/** A cell the column cannot use; the message names the value, the caller adds line and column. */
export class CellError extends Error {}

/** A blank cell of a column that keeps the directory's value (for a new row: the column's default). */
export const KEEP = Symbol('keep');

export interface CellContext {
  /** Region for phone numbers written without a country code. */
  phoneRegion: CountryCode;
  /** The mailbox addresses the directory has (lower-cased), for Mailboxes cells. */
  knownMailboxes: ReadonlySet<string>;
}

/** One column of a table's CSV file. `V` is the column's value; `E` the directory entry. */
export interface CsvColumn<E, V = unknown> {
  /** The header: the SeaTable schema's default column name. */
  name: string;
  /** The field of the directory's add/edit input this column sets. */
  field: string;
  /** The header must have it. */
  required?: true;
  /** No two rows may hold the same (non-blank) value. */
  unique?: true;
  /** The dry run says "changed" instead of showing values. */
  secret?: true;
  /**
   * A blank cell is refused, in a new row and where the directory has a value; the text says what to
   * write. (Blank where the directory has nothing too is left alone, so that an export reads back.)
   */
  requiredForNew?: string;
  /** The value of a trimmed cell; {@link KEEP} for "keep"; throws {@link CellError}. */
  read(cell: string, context: CellContext): V | typeof KEEP;
  /** The entry's current value. */
  value(entry: E): V;
  /** The cell written on export (and shown by the dry run) for a value. */
  format(value: V): string;
}

/** Where a row's values came from, for rules between columns. */
export interface RowOrigin<E> {
  /** The directory's entry with the row's key; absent for a new row. */
  entry?: E;
  /** The fields whose cell the file has and that is not a blank "keep" cell. */
  written: ReadonlySet<string>;
}

/** How one table's rows become directory changes. */
export interface CsvTableSpec<E extends { key: string }> {
  table: DirectoryTable;
  /** "mailbox", "user", "group": for messages. */
  noun: string;
  /** The column that identifies a row (matched against the directory's entries). */
  keyColumn: string;
  columns: ReadonlyArray<CsvColumn<E>>;
  entries(snapshot: DirectorySnapshot): E[];
  /** A short label of an entry for the dry run. */
  label(entry: E): string;
  /**
   * Defaults that depend on another column (a mailbox's port on its TLS mode), and rules between
   * columns; throws {@link CellError}. `fields` holds every column's value, KEEP resolved; it may
   * add derived fields (not columns) for add/edit.
   */
  complete?(fields: Record<string, unknown>, row: RowOrigin<E>): void;
  add(directory: LocalDirectory, fields: Record<string, unknown>): Promise<void>;
  /** `changed` holds only the fields whose value differs; `fields` all of them (as completed). */
  edit(
    directory: LocalDirectory,
    entry: E,
    changed: Record<string, unknown>,
    fields: Record<string, unknown>,
  ): Promise<void>;
  remove(directory: LocalDirectory, entry: E): Promise<void>;
}

// ---- cell readers -----------------------------------------------------------------------------

export const EMAIL_PATTERN = /^[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+$/;
export const ENV_REFERENCE = /^env:([A-Za-z_][A-Za-z0-9_]*)$/;
const MEDIA_MODES: readonly MediaMode[] = ['photo', 'document', 'both'];
const TRUE_WORDS = new Set(['yes', 'true', '1', 'x', 'да', 'истина', '✓', '✔', 'on']);
const FALSE_WORDS = new Set(['no', 'false', '0', 'нет', 'ложь', 'off']);
/** What Excel makes of a long number in a narrow column (1,00123E+12): the digits are lost. */
export const SCIENTIFIC = /^-?\d+([.,]\d+)?e[+-]?\d+$/i;

export function listOf(cell: string): string[] {
  return cell.split(/[\s,;]+/).filter((item) => item !== '');
}

export function yesNo(cell: string): boolean | null {
  if (cell === '') return null;
  const word = cell.toLowerCase();
  if (TRUE_WORDS.has(word)) return true;
  if (FALSE_WORDS.has(word)) return false;
  throw new CellError(`"${cell}" is not yes or no`);
}

export function wholeNumber(cell: string, what: string): number {
  if (SCIENTIFIC.test(cell)) {
    throw new CellError(
      `"${cell}" lost its digits to a spreadsheet; format the column as text and write the ${what} in full`,
    );
  }
  if (!/^-?\d{1,16}$/.test(cell) || !Number.isSafeInteger(Number(cell)))
    throw new CellError(`"${cell}" is not a ${what}`);
  return Number(cell);
}

/** A new entry's input: a null (blank: the default) is a field left out. */
export function withoutNulls(fields: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== null));
}

export const formatYesNo = (value: boolean | null) => (value === null ? '' : value ? 'yes' : 'no');

/** A yes/no column; blank means `blank`. */
export function yesNoColumn<E>(
  name: string,
  field: string,
  value: (entry: E) => boolean | null,
  blank: boolean | null,
): CsvColumn<E, boolean | null> {
  return { name, field, read: (cell) => yesNo(cell) ?? blank, value, format: formatYesNo };
}

export function tallImageModeColumn<E extends { tallImageMode?: TallImageMode | null }>(): CsvColumn<
  E,
  TallImageMode | null
> {
  return {
    name: 'Tall image mode',
    field: 'tallImageMode',
    read(cell) {
      if (cell === '') return null;
      const mode = cell.toLowerCase() as TallImageMode;
      if (!TALL_IMAGE_MODES.includes(mode))
        throw new CellError(`"${cell}" is not ${TALL_IMAGE_MODES.join(', ')} or blank`);
      return mode;
    },
    value: (entry) => entry.tallImageMode ?? null,
    format: (value) => value ?? '',
  };
}

export function mediaModeColumn<E extends { mediaMode: MediaMode | null }>(): CsvColumn<E, MediaMode | null> {
  return {
    name: 'Media mode',
    field: 'mediaMode',
    read(cell) {
      if (cell === '') return null;
      const mode = cell.toLowerCase() as MediaMode;
      if (!MEDIA_MODES.includes(mode))
        throw new CellError(`"${cell}" is not ${MEDIA_MODES.join(', ')} or blank`);
      return mode;
    },
    value: (entry) => entry.mediaMode,
    format: (value) => value ?? '',
  };
}

export function mailboxesColumn<E extends { mailboxes: string[] }>(): CsvColumn<E, string[]> {
  return {
    name: 'Mailboxes',
    field: 'mailboxes',
    required: true,
    // blank only where it already is (a user whose mailboxes were all removed): see requiredForNew
    requiredForNew: 'name at least one mailbox',
    read(cell, context) {
      const emails = [...new Set(listOf(cell).map((email) => email.toLowerCase()))].sort();
      const unknown = emails.filter((email) => !context.knownMailboxes.has(email));
      if (unknown.length > 0)
        throw new CellError(`${unknown.join(', ')}: no such mailbox (import or add the mailboxes first)`);
      return emails;
    },
    value: (entry) => [...entry.mailboxes].sort(),
    format: (value) => value.join(' '),
  };
}

export function telegramIdColumn<E extends { telegramId: number | null }>(
  what: string,
): CsvColumn<E, number | null> {
  return {
    name: 'Telegram ID',
    field: 'telegramId',
    unique: true,
    read: (cell) => (cell === '' ? KEEP : wholeNumber(cell, what)),
    value: (entry) => entry.telegramId,
    format: (value) => (value === null ? '' : String(value)),
  };
}

export function activeColumn<E extends { active: boolean; pausedByAdmin?: true }>(): CsvColumn<
  E,
  boolean | null
> {
  // the admin's decision only: a chat the bot saw go is a separate fact, not part of the file
  return yesNoColumn('Active', 'active', (entry) => !entry.pausedByAdmin, true);
}
