/**
 * The columns of the embedded directory's CSV files (`mailbox|user|group import` and `export`), one
 * table per file, named as in the SeaTable schema (seatable-schema.ts), so a SeaTable export and a
 * local export are the same files. Table-driven: a column says how a cell is read (and what a blank
 * cell means), how an entry's value is written, and which field of the directory's add/edit input it
 * sets. To add a column: add it to DIRECTORY_SCHEMA (SeaTable), give NewMailbox/MailboxChanges (and so on) of local-directory.ts
 * the field, and add one entry to the table below with that `field`.
 *
 * Blank cells: a blank cell means the default (MEDIA_MODE, MARK_SEEN, INBOX, the port of the TLS mode,
 * Active = yes) except where {@link KEEP} says "keep what the directory has": Password (never exported
 * in clear) and Telegram ID (set by the bot when someone registers; an old file must not undo that).
 */

import type { CountryCode } from 'libphonenumber-js';
import { normalizeSenderPattern } from '../../core/allowed-senders.js';
import { type MediaMode, TALL_IMAGE_MODES, type TallImageMode } from '../../core/message-plan.js';
import { normalizePhone } from '../../core/phone.js';
import { formatSenderAuth, parseSenderAuth } from '../../core/sender-auth.js';
import type { DirectorySnapshot, GroupEntry, MailboxEntry, UserEntry } from '../directory.js';
import { TLS_SYNONYMS } from '../seatable/seatable-rows.js';
import type { DirectoryTable } from '../seatable/seatable-schema.js';
import type { LocalDirectory, MailboxChanges, NewGroup, NewMailbox, NewUser } from './local-directory.js';

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
   * columns; throws {@link CellError}. `fields` holds every column's value, KEEP resolved.
   */
  complete?(fields: Record<string, unknown>): void;
  add(directory: LocalDirectory, fields: Record<string, unknown>): void;
  /** `changed` holds only the fields whose value differs. */
  edit(directory: LocalDirectory, entry: E, changed: Record<string, unknown>): void;
  remove(directory: LocalDirectory, entry: E): void;
}

// ---- cell readers -----------------------------------------------------------------------------

const EMAIL_PATTERN = /^[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+$/;
const ENV_REFERENCE = /^env:([A-Za-z_][A-Za-z0-9_]*)$/;
const MEDIA_MODES: readonly MediaMode[] = ['photo', 'document', 'both'];
const TRUE_WORDS = new Set(['yes', 'true', '1', 'x', 'да', 'истина', '✓', '✔', 'on']);
const FALSE_WORDS = new Set(['no', 'false', '0', 'нет', 'ложь', 'off']);
/** What Excel makes of a long number in a narrow column (1,00123E+12): the digits are lost. */
const SCIENTIFIC = /^-?\d+([.,]\d+)?e[+-]?\d+$/i;

function listOf(cell: string): string[] {
  return cell.split(/[\s,;]+/).filter((item) => item !== '');
}

function yesNo(cell: string): boolean | null {
  if (cell === '') return null;
  const word = cell.toLowerCase();
  if (TRUE_WORDS.has(word)) return true;
  if (FALSE_WORDS.has(word)) return false;
  throw new CellError(`"${cell}" is not yes or no`);
}

function wholeNumber(cell: string, what: string): number {
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
function withoutNulls(fields: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== null));
}

const formatYesNo = (value: boolean | null) => (value === null ? '' : value ? 'yes' : 'no');

/** A yes/no column; blank means `blank`. */
function yesNoColumn<E>(
  name: string,
  field: string,
  value: (entry: E) => boolean | null,
  blank: boolean | null,
): CsvColumn<E, boolean | null> {
  return { name, field, read: (cell) => yesNo(cell) ?? blank, value, format: formatYesNo };
}

function tallImageModeColumn<E extends { tallImageMode?: TallImageMode | null }>(): CsvColumn<
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

function mediaModeColumn<E extends { mediaMode: MediaMode | null }>(): CsvColumn<E, MediaMode | null> {
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

function mailboxesColumn<E extends { mailboxes: string[] }>(): CsvColumn<E, string[]> {
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

function telegramIdColumn<E extends { telegramId: number | null }>(
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

function activeColumn<E extends { active: boolean; pausedByAdmin?: true }>(): CsvColumn<E, boolean | null> {
  // the admin's decision only: a chat the bot saw go is a separate fact, not part of the file
  return yesNoColumn('Active', 'active', (entry) => !entry.pausedByAdmin, true);
}

/** The password of a mailbox as a value: the password itself, or the variable to read it from. */
type PasswordValue = { password: string } | { passwordEnv: string };

// ---- the tables -------------------------------------------------------------------------------

export const MAILBOX_CSV: CsvTableSpec<MailboxEntry> = {
  table: 'Mailboxes',
  noun: 'mailbox',
  keyColumn: 'Email',
  entries: (snapshot) => snapshot.mailboxes,
  label: (entry) => entry.email,
  columns: [
    {
      name: 'Email',
      field: 'email',
      required: true,
      unique: true,
      read(cell) {
        const email = cell.toLowerCase();
        if (!EMAIL_PATTERN.test(email)) throw new CellError(`"${cell}" is not an e-mail address`);
        return email;
      },
      value: (entry) => entry.email,
      format: (value) => value as string,
    },
    {
      name: 'Host',
      field: 'host',
      required: true,
      read(cell) {
        if (cell === '') throw new CellError('is empty');
        return cell;
      },
      value: (entry) => entry.host,
      format: (value) => value as string,
    },
    {
      name: 'Port',
      field: 'port',
      read(cell) {
        if (cell === '') return null;
        const port = wholeNumber(cell, 'TCP port');
        if (port < 1 || port > 65535) throw new CellError(`${port} is not a TCP port (1–65535)`);
        return port;
      },
      value: (entry) => entry.port,
      format: (value) => (value === null ? '' : String(value)),
    },
    {
      name: 'TLS',
      field: 'tls',
      read(cell) {
        if (cell === '') return null;
        const mode = TLS_SYNONYMS[cell.toLowerCase().replace(/\s+/g, ' ')];
        if (!mode) throw new CellError(`"${cell}" is not tls, starttls or none`);
        return mode;
      },
      value: (entry) => entry.tls,
      format: (value) => (value as string | null) ?? '',
    },
    {
      name: 'Login',
      field: 'login',
      read: (cell) => (cell === '' ? null : cell),
      value: (entry) => entry.login,
      format: (value) => (value as string | null) ?? '',
    },
    {
      name: 'Password',
      field: 'password',
      secret: true,
      requiredForNew: 'the password, or env:VARIABLE to read it from the environment',
      read(cell): PasswordValue | typeof KEEP {
        if (cell === '') return KEEP;
        const reference = ENV_REFERENCE.exec(cell);
        if (reference) return { passwordEnv: reference[1]! };
        if (cell.startsWith('env:'))
          throw new CellError('starts with "env:" but the rest is not an environment variable name');
        return { password: cell };
      },
      value: (entry): PasswordValue =>
        entry.passwordSource.startsWith('env:')
          ? { passwordEnv: entry.passwordSource.slice('env:'.length) }
          : { password: entry.password ?? '' },
      // a stored password is never written out: the cell stays blank, which an import reads as "keep"
      format: (value) =>
        'passwordEnv' in (value as PasswordValue)
          ? `env:${(value as { passwordEnv: string }).passwordEnv}`
          : '',
    },
    {
      name: 'Folder',
      field: 'folder',
      read: (cell) => cell || 'INBOX',
      value: (entry) => entry.folder,
      format: (value) => value as string,
    },
    {
      name: 'Allowed senders',
      field: 'allowFrom',
      read(cell) {
        const patterns = listOf(cell);
        const normalized = patterns.map(normalizeSenderPattern);
        const bad = patterns.filter((_, index) => normalized[index] === null);
        if (bad.length > 0)
          throw new CellError(`${bad.map((p) => `"${p}"`).join(', ')}: neither an address nor @domain`);
        return [...new Set(normalized as string[])].sort();
      },
      value: (entry) => [...entry.allowFrom].sort(),
      format: (value) => (value as string[]).join(' '),
    },
    yesNoColumn<MailboxEntry>('Active', 'active', (entry) => entry.active, true),
    mediaModeColumn<MailboxEntry>(),
    yesNoColumn<MailboxEntry>('Mark seen', 'markSeen', (entry) => entry.markSeen, null),
    {
      name: 'Sender auth',
      field: 'senderAuth',
      read(cell) {
        if (cell === '') return null;
        const policy = parseSenderAuth(cell);
        if (!policy)
          throw new CellError(
            `"${cell}" is not off, dkim, authentication-results or authentication-results:<authserv-id>`,
          );
        return formatSenderAuth(policy);
      },
      value: (entry) => (entry.senderAuth ? formatSenderAuth(entry.senderAuth) : null),
      format: (value) => (value as string | null) ?? '',
    },
    tallImageModeColumn<MailboxEntry>(),
  ] as ReadonlyArray<CsvColumn<MailboxEntry>>,
  complete(fields) {
    // as in SeaTable: blank TLS on port 143 is STARTTLS; a blank port is the TLS mode's own
    fields.tls ??= fields.port === 143 ? 'starttls' : 'tls';
    fields.port ??= fields.tls === 'tls' ? 993 : 143;
    fields.login ??= fields.email;
  },
  add(directory, fields) {
    const { active, password, ...rest } = fields;
    directory.addMailbox({
      ...(withoutNulls(rest) as unknown as NewMailbox),
      ...(password as PasswordValue),
    });
    if (active === false) directory.setMailboxPaused(fields.email as string, true);
  },
  edit(directory, entry, changed) {
    const { active, password, ...rest } = changed;
    if (Object.keys(rest).length > 0 || password !== undefined)
      directory.editMailbox(entry.email, {
        ...(rest as MailboxChanges),
        ...((password as PasswordValue | undefined) ?? {}),
      });
    if (active !== undefined) directory.setMailboxPaused(entry.email, active === false);
  },
  remove: (directory, entry) => directory.removeMailbox(entry.email),
};

export const USER_CSV: CsvTableSpec<UserEntry> = {
  table: 'Users',
  noun: 'user',
  keyColumn: 'Phone',
  entries: (snapshot) => snapshot.users,
  label: (entry) => `${entry.name} (${entry.phone})`,
  columns: [
    {
      name: 'Name',
      field: 'name',
      required: true,
      read(cell) {
        if (cell === '') throw new CellError('is empty');
        return cell;
      },
      value: (entry) => entry.name,
      format: (value) => value as string,
    },
    {
      name: 'Phone',
      field: 'phone',
      required: true,
      unique: true,
      read(cell, context) {
        if (SCIENTIFIC.test(cell)) wholeNumber(cell, 'phone number');
        const phone = normalizePhone(cell, context.phoneRegion);
        if (!phone) throw new CellError(`"${cell}" is not a valid phone number`);
        return phone;
      },
      value: (entry) => entry.phone,
      format: (value) => value as string,
    },
    mailboxesColumn<UserEntry>(),
    telegramIdColumn<UserEntry>('Telegram user id'),
    activeColumn<UserEntry>(),
  ] as ReadonlyArray<CsvColumn<UserEntry>>,
  add(directory, fields) {
    const { active, ...rest } = fields;
    directory.addUser(withoutNulls(rest) as unknown as NewUser);
    if (active === false) directory.setUserPaused(fields.phone as string, true);
  },
  edit(directory, entry, changed) {
    const { active, ...rest } = changed;
    // the phone identifies the row, so it never changes here
    if (Object.keys(rest).length > 0) directory.editUser(entry.phone, rest);
    if (active !== undefined) directory.setUserPaused(entry.phone, active === false);
  },
  remove: (directory, entry) => directory.removeUser(entry.phone),
};

export const GROUP_CSV: CsvTableSpec<GroupEntry> = {
  table: 'Groups',
  noun: 'group',
  keyColumn: 'Name',
  entries: (snapshot) => snapshot.groups,
  label: (entry) => `"${entry.title}"`,
  columns: [
    {
      name: 'Name',
      field: 'title',
      required: true,
      unique: true,
      read(cell) {
        if (cell === '') throw new CellError('is empty: it is the Telegram group title');
        return cell;
      },
      value: (entry) => entry.title,
      format: (value) => value as string,
    },
    mailboxesColumn<GroupEntry>(),
    telegramIdColumn<GroupEntry>('Telegram chat id'),
    {
      // in the embedded directory a group is locked exactly when it has a chat id
      name: 'Locked',
      field: 'locked',
      read: (cell) => yesNo(cell) ?? KEEP,
      value: (entry) => entry.locked,
      format: (value) => formatYesNo(value as boolean),
    },
    {
      name: 'Topic ID',
      field: 'topicId',
      read: (cell) => (cell === '' ? null : wholeNumber(cell, 'forum topic id')),
      value: (entry) => entry.topicId,
      format: (value) => (value === null ? '' : String(value)),
    },
    activeColumn<GroupEntry>(),
    mediaModeColumn<GroupEntry>(),
    tallImageModeColumn<GroupEntry>(),
  ] as ReadonlyArray<CsvColumn<GroupEntry>>,
  complete(fields) {
    const hasId = typeof fields.telegramId === 'number';
    if (fields.locked === false && hasId)
      throw new CellError(
        'Locked: a group with a Telegram ID is locked to it in the embedded directory; leave Locked blank or yes (unlock with: group edit --unlock)',
      );
    if (fields.locked === true && !hasId)
      throw new CellError('Locked: yes needs a Telegram ID (the group is locked once it registers)');
    fields.locked = hasId;
  },
  add(directory, fields) {
    const { active, locked: _derived, ...rest } = fields;
    directory.addGroup(withoutNulls(rest) as unknown as NewGroup);
    if (active === false) directory.setGroupPaused(fields.title as string, true);
  },
  edit(directory, entry, changed) {
    const { active, locked: _derived, ...rest } = changed;
    if (Object.keys(rest).length > 0) directory.editGroup(entry.title, rest);
    if (active !== undefined) directory.setGroupPaused(entry.title, active === false);
  },
  remove: (directory, entry) => directory.removeGroup(entry.title),
};

export const DIRECTORY_CSV = { mailbox: MAILBOX_CSV, user: USER_CSV, group: GROUP_CSV } as const;
