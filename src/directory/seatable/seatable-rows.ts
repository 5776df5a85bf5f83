/**
 * Turns the rows of the three SeaTable tables into directory entries. Pure: no I/O, no logging.
 * A row the bot cannot use (a bad e-mail, port, phone, TLS mode, Telegram id…) is left out with a
 * warning naming the table, the row and the cell; a blank row is left out silently. Nothing here
 * throws on bad data.
 *
 * Cell forms accepted (docs/seatable.md):
 * - Active, Locked, Mark seen: a checkbox; only a ticked box counts (SeaTable reads an untouched
 *   box as null, and the grid shows it unticked).
 * - Mailboxes (Users, Groups): a link column to the Mailboxes table (resolved by row id), a
 *   multiple-select of addresses, or a text of addresses separated by commas, spaces or new lines.
 * - TLS: tls / starttls / none, with common synonyms (ssl, imaps, 993 → tls; 143 → starttls…); or a
 *   checkbox: ticked tls, unticked starttls.
 * - Password: the password, or `env:VAR_NAME` to read it from the bot's environment.
 * - OAuth2 token URL, client ID, client secret, scope, refresh token (optional): a filled token URL
 *   makes the mailbox log in with OAuth2 instead of the Password; the secret and the refresh token
 *   only as `env:VAR_NAME` (a secret typed into the cell would be shown to everyone with the base).
 * - Telegram ID, Topic ID, Port: a number column or digits in a text column.
 */
import type { CountryCode } from 'libphonenumber-js';
import { normalizeSenderPattern } from '../../core/allowed-senders.js';
import { type MediaMode, TALL_IMAGE_MODES, type TallImageMode } from '../../core/message-plan.js';
import { maskPhone, normalizePhone } from '../../core/phone.js';
import { parseSenderAuth } from '../../core/sender-auth.js';
import type { GroupEntry, MailboxEntry, OAuth2Settings, TlsMode, UserEntry } from '../directory.js';
import { type OAuth2Input, oauth2InputProblem, resolveOAuth2 } from '../oauth2-settings.js';
import type { SeaTableLinkCell, SeaTableRow } from './seatable-model.js';
import type { DirectoryColumns, DirectoryTable, ResolvedSchema, SeaTableNames } from './seatable-schema.js';

/** A row left out (or a value ignored) and why. */
export interface RowWarning {
  /** The table's name in the base. */
  table: string;
  rowId: string;
  /** The row's `_mtime`: the same problem in a changed row is reported again. */
  rowVersion: string;
  message: string;
}

export interface DirectoryRows {
  mailboxes: SeaTableRow[];
  users: SeaTableRow[];
  groups: SeaTableRow[];
}

export interface RowReadOptions {
  schema: ResolvedSchema;
  names: SeaTableNames;
  phoneRegion: CountryCode;
  /** Environment for `env:VAR` passwords. */
  env: Record<string, string | undefined>;
}

export interface DirectoryRead {
  mailboxes: MailboxEntry[];
  users: UserEntry[];
  groups: GroupEntry[];
  warnings: RowWarning[];
  /** Every password read from the base (also of rows left out), for the log scrubber. */
  secrets: string[];
}

const EMAIL_PATTERN = /^[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+$/;
const ENV_REFERENCE = /^env:([A-Za-z_][A-Za-z0-9_]*)$/;
const TELEGRAM_ID = /^-?\d{1,16}$/;
/** A link cell holds at most this many entries (SeaTable ≥ 5.3). */
const LINK_CELL_CAP = 50;

/** The words a TLS cell may hold (lower-case, single spaces), also read by the CSV import. */
export const TLS_SYNONYMS: Record<string, TlsMode> = {
  tls: 'tls',
  ssl: 'tls',
  'ssl/tls': 'tls',
  'tls/ssl': 'tls',
  imaps: 'tls',
  implicit: 'tls',
  'implicit tls': 'tls',
  '993': 'tls',
  starttls: 'starttls',
  'start tls': 'starttls',
  'start-tls': 'starttls',
  '143': 'starttls',
  none: 'none',
  no: 'none',
  off: 'none',
  plain: 'none',
  plaintext: 'none',
  insecure: 'none',
};

const MEDIA_MODES: readonly MediaMode[] = ['photo', 'document', 'both'];

/** The optional Tall image mode cell of a mailbox or group row; a bad value is warned about and ignored. */
function tallImageModeOf(
  table: TableReader<'Mailboxes'> | TableReader<'Groups'>,
  row: SeaTableRow,
  label: string,
  fallback: string,
): TallImageMode | null {
  const reader = table as TableReader<'Mailboxes'>;
  if (!reader.present('Tall image mode')) return null;
  const cell = textOf(reader.cell(row, 'Tall image mode')).toLowerCase();
  if (cell === '') return null;
  if ((TALL_IMAGE_MODES as readonly string[]).includes(cell)) return cell as TallImageMode;
  reader.warn(
    row,
    label,
    `${reader.quoted('Tall image mode')} "${cell}" is not tiles+document, tiles or document; ${fallback}`,
  );
  return null;
}

/** A cell that counts as empty: null, blank text, an empty list. */
function isBlank(value: unknown): boolean {
  return (
    value === null ||
    value === undefined ||
    (typeof value === 'string' && value.trim() === '') ||
    (Array.isArray(value) && value.length === 0)
  );
}

/** A text cell's value, trimmed; numbers as digits; anything else as ''. */
function textOf(value: unknown): string {
  if (typeof value === 'string') return value.trim();
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return '';
}

/** A whole number from a number cell or a text of digits; undefined when blank; NaN when invalid. */
function integerOf(value: unknown, pattern = /^-?\d+$/): number | undefined {
  if (isBlank(value)) return undefined;
  if (typeof value === 'number') return Number.isSafeInteger(value) ? value : Number.NaN;
  const text = textOf(value);
  return pattern.test(text) && Number.isSafeInteger(Number(text)) ? Number(text) : Number.NaN;
}

/** The words of a text or multiple-select cell: split on commas, semicolons and white space. */
function listOf(value: unknown): string[] {
  const items = Array.isArray(value) ? value.map(textOf) : [textOf(value)];
  return items.flatMap((item) => item.split(/[\s,;]+/)).filter((item) => item !== '');
}

function sortedUnique(values: Iterable<string>): string[] {
  return [...new Set(values)].sort();
}

function isoTime(value: unknown): string {
  const parsed = typeof value === 'string' ? Date.parse(value) : Number.NaN;
  return Number.isNaN(parsed) ? new Date(0).toISOString() : new Date(parsed).toISOString();
}

/** Reads one table's rows with its column names and collects warnings. */
class TableReader<T extends DirectoryTable> {
  constructor(
    private readonly logical: T,
    private readonly options: RowReadOptions,
    private readonly warnings: RowWarning[],
  ) {}

  get tableName(): string {
    return this.options.names.tables[this.logical];
  }

  /** The cell of a column; undefined when an optional column is absent from the base. */
  cell(row: SeaTableRow, column: DirectoryColumns[T]): unknown {
    if (!this.present(column)) return undefined;
    return row[this.nameOf(column)];
  }

  present(column: DirectoryColumns[T]): boolean {
    return (this.options.schema.columns[this.logical] as Record<string, unknown>)[column] != null;
  }

  typeOf(column: DirectoryColumns[T]): string | undefined {
    const found = (this.options.schema.columns[this.logical] as Record<string, { type: string } | null>)[
      column
    ];
    return found?.type;
  }

  nameOf(column: DirectoryColumns[T]): string {
    return (this.options.names.columns[this.logical] as Record<string, string>)[column]!;
  }

  /** Whether every listed cell of the row is blank (a row nobody filled in). */
  blank(row: SeaTableRow, columns: ReadonlyArray<DirectoryColumns[T]>): boolean {
    return columns.every((column) => isBlank(this.cell(row, column)));
  }

  warn(row: SeaTableRow, label: string, message: string): void {
    this.warnings.push({
      table: this.tableName,
      rowId: row._id,
      rowVersion: String(row._mtime ?? ''),
      message: `${this.tableName} row ${label}: ${message}`,
    });
  }

  /** `column "Name"` for messages. */
  quoted(column: DirectoryColumns[T]): string {
    return `"${this.nameOf(column)}"`;
  }
}

/** Reads all three tables. */
export function readDirectoryRows(rows: DirectoryRows, options: RowReadOptions): DirectoryRead {
  const warnings: RowWarning[] = [];
  const secrets: string[] = [];
  const mailboxes = readMailboxes(
    rows.mailboxes,
    new TableReader('Mailboxes', options, warnings),
    options,
    secrets,
  );
  const byRowId = new Map(mailboxes.map((mailbox) => [mailbox.key, mailbox.email]));
  const known = new Set(mailboxes.map((mailbox) => mailbox.email));
  const subscriptionReader = { byRowId, known };
  const users = readUsers(
    rows.users,
    new TableReader('Users', options, warnings),
    options,
    subscriptionReader,
  );
  const groups = readGroups(rows.groups, new TableReader('Groups', options, warnings), subscriptionReader);
  return { mailboxes, users, groups, warnings, secrets };
}

function readMailboxes(
  rows: SeaTableRow[],
  table: TableReader<'Mailboxes'>,
  options: RowReadOptions,
  secrets: string[],
): MailboxEntry[] {
  const entries: MailboxEntry[] = [];
  const seen = new Set<string>();
  for (const row of rows) {
    const password = table.cell(row, 'Password');
    if (typeof password === 'string' && !ENV_REFERENCE.test(password.trim())) secrets.push(password);
    for (const column of ['OAuth2 client secret', 'OAuth2 refresh token'] as const) {
      // refused below, but a secret typed into the cell is a secret all the same
      const cell = table.cell(row, column);
      if (typeof cell === 'string' && !ENV_REFERENCE.test(cell.trim())) secrets.push(cell);
    }
    if (table.blank(row, ['Email', 'Host', 'Port', 'Login', 'Password', 'Folder'])) continue;
    const rawEmail = textOf(table.cell(row, 'Email'));
    const email = rawEmail.toLowerCase();
    const label = `"${rawEmail || row._id}"`;
    if (!EMAIL_PATTERN.test(email)) {
      table.warn(row, label, `${table.quoted('Email')} is not an e-mail address; the mailbox is ignored`);
      continue;
    }
    if (seen.has(email)) {
      table.warn(row, label, 'the address appears in an earlier row too; this row is ignored');
      continue;
    }
    // an empty Host: a webhook-only mailbox (Superset's webhook; no IMAP login, so no password)
    const host = textOf(table.cell(row, 'Host'));
    const webhookOnly = host === '';
    const tlsCell = textOf(table.cell(row, 'TLS')).toLowerCase();
    const port = integerOf(table.cell(row, 'Port'));
    if (port !== undefined && (Number.isNaN(port) || port < 1 || port > 65535)) {
      table.warn(row, label, `${table.quoted('Port')} is not a TCP port (1–65535); the mailbox is ignored`);
      continue;
    }
    let tls: TlsMode;
    if (table.typeOf('TLS') === 'checkbox') {
      // an untouched box reads as null, like an unticked one
      tls = table.cell(row, 'TLS') === true ? 'tls' : 'starttls';
    } else if (tlsCell === '') {
      // port 143 is the STARTTLS port: implicit TLS there never connects
      tls = port === 143 ? 'starttls' : 'tls';
    } else {
      const mode = TLS_SYNONYMS[tlsCell.replace(/\s+/g, ' ')];
      if (!mode) {
        table.warn(
          row,
          label,
          `${table.quoted('TLS')} "${tlsCell}" is not tls, starttls or none; the mailbox is ignored`,
        );
        continue;
      }
      tls = mode;
    }
    const allowFrom: string[] = [];
    const badSenders: string[] = [];
    for (const pattern of listOf(table.cell(row, 'Allowed senders'))) {
      const normalized = normalizeSenderPattern(pattern);
      if (normalized) allowFrom.push(normalized);
      else badSenders.push(pattern);
    }
    if (badSenders.length > 0) {
      // ignoring only the bad ones could leave the list empty, which means "anyone"
      table.warn(
        row,
        label,
        `${table.quoted('Allowed senders')}: ${badSenders.map((s) => `"${s}"`).join(', ')} is neither an address nor @domain; the mailbox is ignored`,
      );
      continue;
    }
    let oauth2: OAuth2Settings | null = null;
    if (textOf(table.cell(row, 'OAuth2 token URL'))) {
      const read = readOAuth2(row, table, label, options);
      if (!read) continue;
      oauth2 = read;
    }
    let passwordValue: string | null = null;
    let passwordSource = 'directory';
    if (oauth2) {
      // the OAuth2 columns decide; a leftover password is not used
    } else if (typeof password === 'string' && password.trim() !== '') {
      const reference = ENV_REFERENCE.exec(password.trim());
      if (reference) {
        passwordSource = `env:${reference[1]}`;
        passwordValue = options.env[reference[1]!] ?? null;
        if (passwordValue === null) {
          table.warn(
            row,
            label,
            `${table.quoted('Password')} names the environment variable ${reference[1]}, which is not set; the mailbox cannot log in`,
          );
        }
      } else if (password.trim().startsWith('env:')) {
        table.warn(
          row,
          label,
          `${table.quoted('Password')} starts with "env:" but the rest is not an environment variable name; the mailbox is ignored`,
        );
        continue;
      } else {
        passwordValue = password;
      }
    } else if (!webhookOnly) {
      table.warn(row, label, `${table.quoted('Password')} is empty; the mailbox cannot log in`);
    }
    const mediaMode = mediaModeOf(table, row, label, 'MEDIA_MODE applies');
    const tallImageMode = tallImageModeOf(table, row, label, 'TALL_IMAGE_MODE applies');
    const senderAuthCell = textOf(table.cell(row, 'Sender auth'));
    const senderAuth = senderAuthCell === '' ? null : parseSenderAuth(senderAuthCell);
    if (senderAuthCell !== '' && !senderAuth) {
      // falling back to SENDER_AUTH could weaken the check the admin meant to set
      table.warn(
        row,
        label,
        `${table.quoted('Sender auth')} "${senderAuthCell}" is not off, dkim, authentication-results or authentication-results:<authserv-id>; the mailbox is ignored`,
      );
      continue;
    }
    seen.add(email);
    entries.push({
      key: row._id,
      email,
      host,
      port: port ?? (tls === 'tls' ? 993 : 143),
      tls,
      login: textOf(table.cell(row, 'Login')) || email,
      password: passwordValue,
      passwordSource,
      // present only on OAuth2 mailboxes
      ...(oauth2 ? { oauth2 } : {}),
      folder: textOf(table.cell(row, 'Folder')) || 'INBOX',
      allowFrom,
      mediaMode,
      ...(tallImageMode ? { tallImageMode } : {}),
      markSeen: table.present('Mark seen') && table.cell(row, 'Mark seen') === true ? true : null,
      senderAuth,
      active: table.cell(row, 'Active') === true,
      addedAt: isoTime(row._ctime),
    });
  }
  return entries;
}

/**
 * The OAuth2 columns of a row whose token URL is filled; null (with a warning) when they are unusable:
 * then only this mailbox is left out.
 */
function readOAuth2(
  row: SeaTableRow,
  table: TableReader<'Mailboxes'>,
  label: string,
  options: RowReadOptions,
): OAuth2Settings | null {
  const secretReference = (
    column: 'OAuth2 client secret' | 'OAuth2 refresh token',
  ): string | null | false => {
    const cell = textOf(table.cell(row, column));
    if (!cell) return null;
    const reference = ENV_REFERENCE.exec(cell);
    if (reference) return reference[1]!;
    table.warn(
      row,
      label,
      `${table.quoted(column)} must be env:VAR_NAME (the secret itself belongs in the bot's environment, not in the base); the mailbox is ignored`,
    );
    return false;
  };
  const clientSecretEnv = secretReference('OAuth2 client secret');
  const refreshTokenEnv = secretReference('OAuth2 refresh token');
  if (clientSecretEnv === false || refreshTokenEnv === false) return null;
  if (clientSecretEnv === null) {
    table.warn(
      row,
      label,
      `${table.quoted('OAuth2 client secret')} is empty (give env:VAR_NAME); the mailbox is ignored`,
    );
    return null;
  }
  const input: OAuth2Input = {
    tokenUrl: textOf(table.cell(row, 'OAuth2 token URL')),
    clientId: textOf(table.cell(row, 'OAuth2 client ID')),
    clientSecretEnv,
    scope: textOf(table.cell(row, 'OAuth2 scope')) || null,
    refreshTokenEnv,
  };
  const problem = oauth2InputProblem(input, {
    tokenUrl: table.quoted('OAuth2 token URL'),
    clientId: table.quoted('OAuth2 client ID'),
    clientSecretEnv: table.quoted('OAuth2 client secret'),
    scope: table.quoted('OAuth2 scope'),
    refreshTokenEnv: table.quoted('OAuth2 refresh token'),
  });
  if (problem) {
    table.warn(row, label, `${problem}; the mailbox is ignored`);
    return null;
  }
  const settings = resolveOAuth2(input, options.env);
  for (const [value, source] of [
    [settings.clientSecret, settings.clientSecretSource],
    [settings.refreshToken, settings.refreshTokenSource],
  ] as const) {
    if (source && value === null) {
      table.warn(
        row,
        label,
        `the environment variable ${source.slice(4)} is not set; the mailbox cannot log in`,
      );
    }
  }
  return settings;
}

interface SubscriptionLookup {
  /** Mailbox row id → address. */
  byRowId: Map<string, string>;
  /** Known addresses. */
  known: Set<string>;
}

/** The addresses of a Mailboxes cell, in whichever of the three forms the column has. */
function readSubscriptions<T extends 'Users' | 'Groups'>(
  row: SeaTableRow,
  table: TableReader<T>,
  label: string,
  lookup: SubscriptionLookup,
): string[] {
  const column = 'Mailboxes' as DirectoryColumns[T];
  const value = table.cell(row, column);
  if (isBlank(value)) return [];
  if (table.typeOf(column) === 'link') {
    const links = Array.isArray(value) ? (value as SeaTableLinkCell[]) : [];
    if (links.length >= LINK_CELL_CAP) {
      table.warn(
        row,
        label,
        `${table.quoted(column)} links ${LINK_CELL_CAP} or more mailboxes; SeaTable returns only the first ${LINK_CELL_CAP}`,
      );
    }
    // a link to a mailbox row that was left out (already warned about) is dropped
    return sortedUnique(
      links.flatMap((link) => {
        const email = lookup.byRowId.get(String(link?.row_id));
        return email ? [email] : [];
      }),
    );
  }
  const emails: string[] = [];
  const unknown: string[] = [];
  for (const item of listOf(value)) {
    const email = item.toLowerCase();
    if (lookup.known.has(email)) emails.push(email);
    else unknown.push(item);
  }
  if (unknown.length > 0) {
    table.warn(
      row,
      label,
      `${table.quoted(column)}: ${unknown.map((u) => `"${u}"`).join(', ')} is not a mailbox of the ${lookup.known.size === 0 ? 'empty ' : ''}mailboxes table; ignored`,
    );
  }
  return sortedUnique(emails);
}

/** A Telegram id cell: a number, or null when blank; undefined when invalid. */
/** The optional Media mode cell of a mailbox or group row; a bad value is warned about and ignored. */
function mediaModeOf(
  table: TableReader<'Mailboxes'> | TableReader<'Groups'>,
  row: SeaTableRow,
  label: string,
  fallback: string,
): MediaMode | null {
  const reader = table as TableReader<'Mailboxes'>;
  const cell = textOf(reader.cell(row, 'Media mode')).toLowerCase();
  if (cell === '') return null;
  if ((MEDIA_MODES as readonly string[]).includes(cell)) return cell as MediaMode;
  reader.warn(
    row,
    label,
    `${reader.quoted('Media mode')} "${cell}" is not photo, document or both; ${fallback}`,
  );
  return null;
}

function telegramIdOf(value: unknown): number | null | undefined {
  const id = integerOf(value, TELEGRAM_ID);
  if (id === undefined) return null;
  return Number.isNaN(id) ? undefined : id;
}

function readUsers(
  rows: SeaTableRow[],
  table: TableReader<'Users'>,
  options: RowReadOptions,
  lookup: SubscriptionLookup,
): UserEntry[] {
  const entries: UserEntry[] = [];
  const phones = new Set<string>();
  for (const row of rows) {
    if (table.blank(row, ['Name', 'Phone', 'Telegram ID', 'Mailboxes'])) continue;
    const name = textOf(table.cell(row, 'Name'));
    const written = textOf(table.cell(row, 'Phone'));
    const label = `"${name || row._id}"`;
    const phone = written ? normalizePhone(written, options.phoneRegion) : null;
    if (!phone) {
      table.warn(
        row,
        label,
        written
          ? `${table.quoted('Phone')} "${written}" is not a valid phone number (numbers without a country code are read as PHONE_REGION ${options.phoneRegion}); the user is ignored`
          : `${table.quoted('Phone')} is empty; the user is ignored`,
      );
      continue;
    }
    if (phones.has(phone)) {
      table.warn(
        row,
        label,
        `the phone number ${maskPhone(phone)} appears in an earlier row too; this row is ignored`,
      );
      continue;
    }
    const telegramId = telegramIdOf(table.cell(row, 'Telegram ID'));
    if (telegramId === undefined) {
      table.warn(
        row,
        label,
        `${table.quoted('Telegram ID')} is not a Telegram id (digits); the user is ignored`,
      );
      continue;
    }
    phones.add(phone);
    entries.push({
      key: row._id,
      name,
      phone,
      telegramId,
      mailboxes: readSubscriptions(row, table, label, lookup),
      active: table.cell(row, 'Active') === true,
    });
  }
  return entries;
}

function readGroups(
  rows: SeaTableRow[],
  table: TableReader<'Groups'>,
  lookup: SubscriptionLookup,
): GroupEntry[] {
  const entries: GroupEntry[] = [];
  for (const row of rows) {
    if (table.blank(row, ['Name', 'Telegram ID', 'Mailboxes', 'Topic ID'])) continue;
    const title = textOf(table.cell(row, 'Name'));
    const label = `"${title || row._id}"`;
    if (!title) {
      table.warn(
        row,
        label,
        `${table.quoted('Name')} (the Telegram group title) is empty; the group is ignored`,
      );
      continue;
    }
    const telegramId = telegramIdOf(table.cell(row, 'Telegram ID'));
    if (telegramId === undefined) {
      table.warn(
        row,
        label,
        `${table.quoted('Telegram ID')} is not a Telegram chat id; the group is ignored`,
      );
      continue;
    }
    const topicId = integerOf(table.cell(row, 'Topic ID'));
    if (topicId !== undefined && (Number.isNaN(topicId) || topicId < 1)) {
      table.warn(row, label, `${table.quoted('Topic ID')} is not a forum topic id; the group is ignored`);
      continue;
    }
    const mediaMode = mediaModeOf(table, row, label, "the mailbox's mode applies");
    const tallImageMode = tallImageModeOf(table, row, label, "the mailbox's mode applies");
    entries.push({
      key: row._id,
      title,
      telegramId,
      locked: table.cell(row, 'Locked') === true,
      topicId: topicId ?? null,
      mediaMode,
      ...(tallImageMode ? { tallImageMode } : {}),
      mailboxes: readSubscriptions(row, table, label, lookup),
      active: table.cell(row, 'Active') === true,
    });
  }
  return entries;
}

/** Parses a Telegram id cell as written by the bot or the admin (for writes that re-read a row). */
export function parseTelegramIdCell(value: unknown): number | null {
  return telegramIdOf(value) ?? null;
}
