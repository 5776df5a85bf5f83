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
 * A blank Host is a webhook-only mailbox (as in SeaTable): its IMAP columns must be blank too.
 *
 * A column the file lacks keeps what the directory has (planImport), so an export made before the
 * OAuth2 columns existed never turns an OAuth2 mailbox back into a password one: a Password written
 * in such a file for an OAuth2 mailbox is a bad row, not a switch.
 */

import type { CountryCode } from 'libphonenumber-js';
import { normalizeSenderPattern } from '../../core/allowed-senders.js';
import { type MediaMode, TALL_IMAGE_MODES, type TallImageMode } from '../../core/message-plan.js';
import { normalizePhone } from '../../core/phone.js';
import { formatSenderAuth, parseSenderAuth } from '../../core/sender-auth.js';
import {
  type DirectorySnapshot,
  type GroupEntry,
  isWebhookOnly,
  type MailboxEntry,
  type UserEntry,
} from '../directory.js';
import { type OAuth2Input, oauth2InputProblem } from '../oauth2-settings.js';
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
  add(directory: LocalDirectory, fields: Record<string, unknown>): void;
  /** `changed` holds only the fields whose value differs; `fields` all of them (as completed). */
  edit(
    directory: LocalDirectory,
    entry: E,
    changed: Record<string, unknown>,
    fields: Record<string, unknown>,
  ): void;
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

/** A mailbox's IMAP setting for the file: blank (null) for a webhook-only mailbox. */
function imapValue<V>(read: (entry: MailboxEntry) => V): (entry: MailboxEntry) => V | null {
  return (entry) => (isWebhookOnly(entry) ? null : read(entry));
}

/** An OAuth2 column holding a secret: only a reference `env:VAR` (the value is the variable's name). */
function oauth2SecretColumn(
  name: string,
  field: string,
  source: (entry: MailboxEntry) => string | null | undefined,
): CsvColumn<MailboxEntry, string | null> {
  return {
    name,
    field,
    read(cell) {
      if (cell === '') return null;
      const reference = ENV_REFERENCE.exec(cell);
      if (reference) return reference[1]!;
      // the cell is never echoed: it may be the secret itself
      throw new CellError(
        "must be env:VARIABLE, the environment variable holding the secret; a secret itself is never imported (put it in the bot's environment)",
      );
    },
    value: (entry) => source(entry)?.replace(/^env:/, '') ?? null,
    format: (value) => (value === null ? '' : `env:${value}`),
  };
}

/** An OAuth2 column holding plain text (token URL, client id, scope). */
function oauth2TextColumn(
  name: string,
  field: string,
  value: (entry: MailboxEntry) => string | null | undefined,
): CsvColumn<MailboxEntry, string | null> {
  return {
    name,
    field,
    read: (cell) => (cell === '' ? null : cell),
    value: (entry) => value(entry) ?? null,
    format: (value) => value ?? '',
  };
}

/** The OAuth2 columns: their fields, and the names the messages use. */
const OAUTH2_COLUMNS: Record<keyof OAuth2Input, { field: string; name: string }> = {
  tokenUrl: { field: 'oauth2TokenUrl', name: 'OAuth2 token URL' },
  clientId: { field: 'oauth2ClientId', name: 'OAuth2 client ID' },
  clientSecretEnv: { field: 'oauth2ClientSecretEnv', name: 'OAuth2 client secret' },
  scope: { field: 'oauth2Scope', name: 'OAuth2 scope' },
  refreshTokenEnv: { field: 'oauth2RefreshTokenEnv', name: 'OAuth2 refresh token' },
};
const OAUTH2_FIELDS = Object.values(OAUTH2_COLUMNS).map((column) => column.field);

/** The columns a webhook-only mailbox (blank Host) leaves blank, as `mailbox add --webhook-only`. */
const IMAP_ONLY_COLUMNS: ReadonlyArray<readonly [name: string, field: string]> = [
  ['Port', 'port'],
  ['TLS', 'tls'],
  ['Login', 'login'],
  ['Password', 'password'],
  ['Folder', 'folder'],
  ['Allowed senders', 'allowFrom'],
  ['Mark seen', 'markSeen'],
  ['Sender auth', 'senderAuth'],
  ...Object.values(OAUTH2_COLUMNS).map(({ name, field }) => [name, field] as const),
];

const blank = (value: unknown) =>
  value === null || value === undefined || (Array.isArray(value) && value.length === 0);

/**
 * The rules between a mailbox row's columns: a blank Host is webhook-only (no IMAP column filled);
 * otherwise the mailbox logs in with exactly one of a password and OAuth2 (`fields.oauth2` set).
 */
function completeMailbox(fields: Record<string, unknown>, { entry, written }: RowOrigin<MailboxEntry>): void {
  fields.oauth2 = null;
  if (fields.host === null) {
    if (entry && !isWebhookOnly(entry))
      throw new CellError(
        `Host: is empty (a webhook-only mailbox), but ${entry.email} is an IMAP mailbox; an import does not drop its IMAP settings: write its Host, or remove the mailbox (mailbox remove) and add it with --webhook-only`,
      );
    const filled = IMAP_ONLY_COLUMNS.filter(([, field]) => !blank(fields[field])).map(([name]) => name);
    if (filled.length > 0)
      throw new CellError(
        `${filled.join(', ')}: not for a webhook-only mailbox (the Host is empty: no IMAP; the webhook URL's token proves the sender); leave them blank, or write the Host`,
      );
    return;
  }
  // as in SeaTable: blank TLS on port 143 is STARTTLS; a blank port is the TLS mode's own
  fields.tls ??= fields.port === 143 ? 'starttls' : 'tls';
  fields.port ??= fields.tls === 'tls' ? 993 : 143;
  fields.login ??= fields.email;
  fields.folder ??= 'INBOX';
  const hasOAuth2 = OAUTH2_FIELDS.some((field) => fields[field] !== null);
  const oauth2Written = OAUTH2_FIELDS.some((field) => written.has(field) && fields[field] !== null);
  if (fields.password !== null && hasOAuth2) {
    if (!written.has('password')) {
      // a password kept from the directory (its cell is blank), OAuth2 written: the switch to OAuth2
      fields.password = null;
    } else if (oauth2Written) {
      throw new CellError(
        'Password and the OAuth2 columns are both filled, but a mailbox logs in one way: leave Password blank for OAuth2, or the OAuth2 columns blank for a password',
      );
    } else {
      throw new CellError(
        `Password: ${entry?.email ?? 'the mailbox'} logs in with OAuth2, and the file has no OAuth2 columns (so they are kept); to switch it to a password, add the OAuth2 columns and leave them blank; to keep OAuth2, leave Password blank`,
      );
    }
  }
  if (!hasOAuth2) {
    if (fields.password === null)
      throw new CellError(
        entry
          ? 'Password: is empty and the OAuth2 columns too; write the password, env:VARIABLE, or the OAuth2 columns (to remove the mailbox, leave its row out)'
          : 'Password: a new mailbox needs it (the password, or env:VARIABLE to read it from the environment), or the OAuth2 columns',
      );
    return;
  }
  const input = Object.fromEntries(
    Object.entries(OAUTH2_COLUMNS).map(([key, { field }]) => [key, fields[field]]),
  ) as { [K in keyof OAuth2Input]: string | null };
  const missing = (['tokenUrl', 'clientId', 'clientSecretEnv'] as const).filter((key) => input[key] === null);
  if (missing.length > 0)
    throw new CellError(
      `${missing.map((key) => OAUTH2_COLUMNS[key].name).join(', ')}: empty, but the mailbox has OAuth2 settings; OAuth2 needs the token URL, the client ID and the client secret (env:VARIABLE) together`,
    );
  const oauth2 = input as OAuth2Input;
  const problem = oauth2InputProblem(
    oauth2,
    Object.fromEntries(Object.entries(OAUTH2_COLUMNS).map(([key, { name }]) => [key, name])) as Record<
      keyof OAuth2Input,
      string
    >,
  );
  if (problem) throw new CellError(problem);
  fields.oauth2 = oauth2;
}

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
      // blank: a webhook-only mailbox (completeMailbox)
      name: 'Host',
      field: 'host',
      required: true,
      read: (cell) => (cell === '' ? null : cell),
      value: (entry) => (isWebhookOnly(entry) ? null : entry.host),
      format: (value) => (value as string | null) ?? '',
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
      value: imapValue((entry) => entry.port),
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
      value: imapValue((entry) => entry.tls),
      format: (value) => (value as string | null) ?? '',
    },
    {
      name: 'Login',
      field: 'login',
      read: (cell) => (cell === '' ? null : cell),
      value: imapValue((entry) => entry.login),
      format: (value) => (value as string | null) ?? '',
    },
    {
      name: 'Password',
      field: 'password',
      secret: true,
      // required unless OAuth2 or webhook-only: completeMailbox
      read(cell): PasswordValue | typeof KEEP {
        if (cell === '') return KEEP;
        const reference = ENV_REFERENCE.exec(cell);
        if (reference) return { passwordEnv: reference[1]! };
        if (cell.startsWith('env:'))
          throw new CellError('starts with "env:" but the rest is not an environment variable name');
        return { password: cell };
      },
      value: (entry): PasswordValue | null =>
        entry.passwordSource.startsWith('env:')
          ? { passwordEnv: entry.passwordSource.slice('env:'.length) }
          : entry.password !== null
            ? { password: entry.password }
            : null, // OAuth2 and webhook-only mailboxes have none
      // a stored password is never written out: the cell stays blank, which an import reads as "keep"
      format: (value) =>
        value !== null && 'passwordEnv' in (value as PasswordValue)
          ? `env:${(value as { passwordEnv: string }).passwordEnv}`
          : '',
    },
    {
      name: 'Folder',
      field: 'folder',
      read: (cell) => cell || null, // blank: INBOX (completeMailbox)
      value: imapValue((entry) => entry.folder),
      format: (value) => (value as string | null) ?? '',
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
    // OAuth2 instead of a password (as in SeaTable): secrets only as env:VAR references
    oauth2TextColumn('OAuth2 token URL', 'oauth2TokenUrl', (entry) => entry.oauth2?.tokenUrl),
    oauth2TextColumn('OAuth2 client ID', 'oauth2ClientId', (entry) => entry.oauth2?.clientId),
    oauth2SecretColumn(
      'OAuth2 client secret',
      'oauth2ClientSecretEnv',
      (entry) => entry.oauth2?.clientSecretSource,
    ),
    oauth2TextColumn('OAuth2 scope', 'oauth2Scope', (entry) => entry.oauth2?.scope),
    oauth2SecretColumn(
      'OAuth2 refresh token',
      'oauth2RefreshTokenEnv',
      (entry) => entry.oauth2?.refreshTokenSource,
    ),
    tallImageModeColumn<MailboxEntry>(),
  ] as ReadonlyArray<CsvColumn<MailboxEntry>>,
  complete: completeMailbox,
  add(directory, fields) {
    const { active, password, oauth2, host, ...rest } = fields;
    for (const field of OAUTH2_FIELDS) delete rest[field];
    directory.addMailbox({
      ...(withoutNulls(rest) as unknown as NewMailbox),
      ...(host === null ? { webhookOnly: true } : { host: host as string }),
      ...((password as PasswordValue | null) ?? {}),
      ...(oauth2 ? { oauth2: oauth2 as OAuth2Input } : {}),
    });
    if (active === false) directory.setMailboxPaused(fields.email as string, true);
  },
  edit(directory, entry, changed, fields) {
    const { active, password, ...rest } = changed;
    for (const field of OAUTH2_FIELDS) delete rest[field];
    const changes = rest as MailboxChanges;
    // the way it logs in is set as a whole: a password drops OAuth2, OAuth2 drops the password
    if (password !== undefined || OAUTH2_FIELDS.some((field) => field in changed)) {
      if (fields.oauth2) changes.oauth2 = fields.oauth2 as OAuth2Input;
      else Object.assign(changes, fields.password as PasswordValue);
    }
    if (Object.keys(changes).length > 0) directory.editMailbox(entry.email, changes);
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
