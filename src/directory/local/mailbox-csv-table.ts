/**
 * The Mailboxes table of the embedded directory's CSV files (see directory-csv-tables.ts), and the
 * rules between its columns: how a mailbox logs in. A blank Host is a webhook-only mailbox (as in
 * SeaTable): its IMAP columns must be blank too. Otherwise a mailbox logs in with exactly one of a
 * Password and the OAuth2 columns (secrets only as env:VAR).
 *
 * A column the file lacks keeps what the directory has (planImport), so an export made before the
 * OAuth2 columns existed never turns an OAuth2 mailbox back into a password one: a Password written
 * in such a file for an OAuth2 mailbox is a bad row, not a switch.
 */
import { normalizeSenderPattern } from '../../core/allowed-senders.js';
import { formatSenderAuth, parseSenderAuth } from '../../core/sender-auth.js';
import { isWebhookOnly, type MailboxEntry } from '../directory.js';
import { type OAuth2Input, oauth2InputProblem } from '../oauth2-settings.js';
import { TLS_SYNONYMS } from '../seatable/seatable-rows.js';
import {
  CellError,
  type CsvColumn,
  type CsvTableSpec,
  EMAIL_PATTERN,
  ENV_REFERENCE,
  KEEP,
  listOf,
  mediaModeColumn,
  type RowOrigin,
  tallImageModeColumn,
  wholeNumber,
  withoutNulls,
  yesNoColumn,
} from './csv-columns.js';
import type { MailboxChanges, NewMailbox } from './local-directory.js';

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
  async add(directory, fields) {
    const { active, password, oauth2, host, ...rest } = fields;
    for (const field of OAUTH2_FIELDS) delete rest[field];
    await directory.addMailbox({
      ...(withoutNulls(rest) as unknown as NewMailbox),
      ...(host === null ? { webhookOnly: true } : { host: host as string }),
      ...((password as PasswordValue | null) ?? {}),
      ...(oauth2 ? { oauth2: oauth2 as OAuth2Input } : {}),
    });
    if (active === false) await directory.setMailboxPaused(fields.email as string, true);
  },
  async edit(directory, entry, changed, fields) {
    const { active, password, ...rest } = changed;
    for (const field of OAUTH2_FIELDS) delete rest[field];
    const changes = rest as MailboxChanges;
    // the way it logs in is set as a whole: a password drops OAuth2, OAuth2 drops the password
    if (password !== undefined || OAUTH2_FIELDS.some((field) => field in changed)) {
      if (fields.oauth2) changes.oauth2 = fields.oauth2 as OAuth2Input;
      else Object.assign(changes, fields.password as PasswordValue);
    }
    if (Object.keys(changes).length > 0) await directory.editMailbox(entry.email, changes);
    if (active !== undefined) await directory.setMailboxPaused(entry.email, active === false);
  },
  remove: (directory, entry) => directory.removeMailbox(entry.email),
};
