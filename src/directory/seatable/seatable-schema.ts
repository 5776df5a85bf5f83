/**
 * The directory's shape in a SeaTable base: three tables (Mailboxes, Users, Groups), their columns,
 * the types the bot can read from each, and the types `seatable init` creates. One model serves the
 * schema check at start, `superset-telegram-bot check`, and `seatable init`, so they never disagree.
 *
 * Names: every table and column has a default name (below, also in docs/seatable.md). The admin may
 * rename tables (SEATABLE_TABLE_*) and columns (SEATABLE_COLUMN_NAMES `Table.Column=Name`, where
 * Table and Column are the default names).
 */
import type { SeaTableClient } from './seatable-client.js';
import {
  findTable,
  linkedTableId,
  type SeaTableColumn,
  type SeaTableColumnDefinition,
  type SeaTableMetadata,
  type SeaTableTable,
} from './seatable-model.js';

/** The three tables, by their default names. */
export type DirectoryTable = 'Mailboxes' | 'Users' | 'Groups';

export const DIRECTORY_TABLES: readonly DirectoryTable[] = ['Mailboxes', 'Users', 'Groups'];

/** Columns of each table, by their default names. */
export interface DirectoryColumns {
  Mailboxes:
    | 'Email'
    | 'Host'
    | 'Port'
    | 'TLS'
    | 'Login'
    | 'Password'
    | 'Folder'
    | 'Allowed senders'
    | 'Active'
    | 'Media mode'
    | 'Mark seen'
    | 'Sender auth'
    | 'OAuth2 token URL'
    | 'OAuth2 client ID'
    | 'OAuth2 client secret'
    | 'OAuth2 scope'
    | 'OAuth2 refresh token'
    | 'Tall image mode';
  Users: 'Name' | 'Phone' | 'Mailboxes' | 'Telegram ID' | 'Active';
  Groups:
    | 'Name'
    | 'Mailboxes'
    | 'Telegram ID'
    | 'Locked'
    | 'Topic ID'
    | 'Active'
    | 'Media mode'
    | 'Tall image mode';
}

/** One column of the model. */
export interface ColumnModel {
  /** The default name. */
  name: string;
  /** Column types the bot reads; the first is the recommended one. */
  accepts: readonly string[];
  /** What `seatable init` creates. A link's target is the Mailboxes table. */
  create: Omit<SeaTableColumnDefinition, 'name' | 'linkTo'> & { linkToMailboxes?: true };
  /** Optional columns may be missing; the bot then uses the global setting. */
  optional?: true;
}

const text = { type: 'text' } as const;
const checkbox = { type: 'checkbox' } as const;
const mediaModeColumn: ColumnModel = {
  name: 'Media mode',
  accepts: ['single-select', 'text'],
  create: {
    type: 'single-select',
    data: { options: [{ name: 'photo' }, { name: 'document' }, { name: 'both' }] },
  },
  optional: true,
};
// TALL_IMAGE_MODE of one mailbox or group (blank: the setting, or the mailbox's for a group)
const tallImageModeColumn: ColumnModel = {
  name: 'Tall image mode',
  accepts: ['single-select', 'text'],
  create: {
    type: 'single-select',
    data: { options: [{ name: 'tiles+document' }, { name: 'tiles' }, { name: 'document' }] },
  },
  optional: true,
};
const mailboxesColumn: ColumnModel = {
  name: 'Mailboxes',
  accepts: ['link', 'multiple-select', 'text', 'long-text'],
  create: { type: 'link', linkToMailboxes: true },
};
const telegramIdColumn: ColumnModel = { name: 'Telegram ID', accepts: ['text', 'number'], create: text };
const activeColumn: ColumnModel = { name: 'Active', accepts: ['checkbox'], create: checkbox };

/**
 * The model, in column order. The first column of each table is its display column and must be a
 * type SeaTable allows first (text).
 */
export const DIRECTORY_SCHEMA: {
  [T in DirectoryTable]: readonly (ColumnModel & { name: DirectoryColumns[T] })[];
} = {
  Mailboxes: [
    { name: 'Email', accepts: ['text', 'email'], create: text },
    { name: 'Host', accepts: ['text', 'url'], create: text },
    { name: 'Port', accepts: ['number', 'text'], create: { type: 'number' } },
    {
      // a checkbox is understood too: ticked tls, unticked starttls
      name: 'TLS',
      accepts: ['single-select', 'text', 'checkbox'],
      create: {
        type: 'single-select',
        data: { options: [{ name: 'tls' }, { name: 'starttls' }, { name: 'none' }] },
      },
    },
    { name: 'Login', accepts: ['text', 'email'], create: text },
    { name: 'Password', accepts: ['text'], create: text },
    { name: 'Folder', accepts: ['text'], create: text },
    { name: 'Allowed senders', accepts: ['text', 'long-text', 'multiple-select'], create: text },
    { ...activeColumn, name: 'Active' },
    { ...mediaModeColumn, name: 'Media mode' },
    { name: 'Mark seen', accepts: ['checkbox'], create: checkbox, optional: true },
    // off, dkim, authentication-results or authentication-results:<authserv-id>; blank: SENDER_AUTH
    { name: 'Sender auth', accepts: ['text', 'single-select'], create: text, optional: true },
    // OAuth2 instead of Password (docs/mailboxes.md): secrets only as env:VAR references
    { name: 'OAuth2 token URL', accepts: ['text', 'url'], create: text, optional: true },
    { name: 'OAuth2 client ID', accepts: ['text'], create: text, optional: true },
    { name: 'OAuth2 client secret', accepts: ['text'], create: text, optional: true },
    { name: 'OAuth2 scope', accepts: ['text'], create: text, optional: true },
    { name: 'OAuth2 refresh token', accepts: ['text'], create: text, optional: true },
    { ...tallImageModeColumn, name: 'Tall image mode' },
  ],
  Users: [
    { name: 'Name', accepts: ['text'], create: text },
    { name: 'Phone', accepts: ['text', 'number'], create: text },
    { ...mailboxesColumn, name: 'Mailboxes' },
    { ...telegramIdColumn, name: 'Telegram ID' },
    { ...activeColumn, name: 'Active' },
  ],
  Groups: [
    { name: 'Name', accepts: ['text'], create: text },
    { ...mailboxesColumn, name: 'Mailboxes' },
    { ...telegramIdColumn, name: 'Telegram ID' },
    { name: 'Locked', accepts: ['checkbox'], create: checkbox },
    { name: 'Topic ID', accepts: ['number', 'text'], create: { type: 'number' } },
    { ...activeColumn, name: 'Active' },
    { ...mediaModeColumn, name: 'Media mode' },
    { ...tallImageModeColumn, name: 'Tall image mode' },
  ],
};

/** The names the base actually uses. */
export interface SeaTableNames {
  tables: { [T in DirectoryTable]: string };
  columns: { [T in DirectoryTable]: { [C in DirectoryColumns[T]]: string } };
}

/** The settings names come from (a subset of Config). */
export interface SeaTableNameSettings {
  SEATABLE_TABLE_MAILBOXES: string;
  SEATABLE_TABLE_USERS: string;
  SEATABLE_TABLE_GROUPS: string;
  /** `Table.Column=Name` pairs separated by commas; Table and Column are default names. */
  SEATABLE_COLUMN_NAMES?: string;
}

/** A SEATABLE_COLUMN_NAMES entry that names no table or column of the model. */
export class SeaTableNamesError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SeaTableNamesError';
  }
}

/**
 * The table and column names, defaults overridden by the settings. Table and column keys in
 * SEATABLE_COLUMN_NAMES match case-insensitively; the new name is taken as written (trimmed).
 */
export function seaTableNames(settings: SeaTableNameSettings): SeaTableNames {
  const columns = Object.fromEntries(
    DIRECTORY_TABLES.map((table) => [
      table,
      Object.fromEntries(DIRECTORY_SCHEMA[table].map((column) => [column.name, column.name])),
    ]),
  ) as Record<DirectoryTable, Record<string, string>>;
  for (const pair of (settings.SEATABLE_COLUMN_NAMES ?? '').split(',')) {
    if (pair.trim() === '') continue;
    const equals = pair.indexOf('=');
    const dot = pair.indexOf('.');
    if (equals < 0 || dot < 0 || dot > equals) {
      throw new SeaTableNamesError(`SEATABLE_COLUMN_NAMES: "${pair.trim()}" is not Table.Column=Name`);
    }
    const tableKey = pair.slice(0, dot).trim();
    const columnKey = pair.slice(dot + 1, equals).trim();
    const name = pair.slice(equals + 1).trim();
    const table = DIRECTORY_TABLES.find((t) => t.toLowerCase() === tableKey.toLowerCase());
    if (!table) {
      throw new SeaTableNamesError(
        `SEATABLE_COLUMN_NAMES: "${tableKey}" is not a table; use ${DIRECTORY_TABLES.join(', ')} (the default table names, even when the table is renamed)`,
      );
    }
    const column = DIRECTORY_SCHEMA[table].find((c) => c.name.toLowerCase() === columnKey.toLowerCase());
    if (!column) {
      throw new SeaTableNamesError(
        `SEATABLE_COLUMN_NAMES: table ${table} has no column "${columnKey}"; its columns are ${DIRECTORY_SCHEMA[table].map((c) => c.name).join(', ')}`,
      );
    }
    if (name === '')
      throw new SeaTableNamesError(`SEATABLE_COLUMN_NAMES: ${table}.${column.name} has an empty name`);
    columns[table][column.name] = name;
  }
  return {
    tables: {
      Mailboxes: settings.SEATABLE_TABLE_MAILBOXES,
      Users: settings.SEATABLE_TABLE_USERS,
      Groups: settings.SEATABLE_TABLE_GROUPS,
    },
    columns: columns as SeaTableNames['columns'],
  };
}

/** The default names, for tests and tools. */
export function defaultSeaTableNames(): SeaTableNames {
  return seaTableNames({
    SEATABLE_TABLE_MAILBOXES: 'Mailboxes',
    SEATABLE_TABLE_USERS: 'Users',
    SEATABLE_TABLE_GROUPS: 'Groups',
  });
}

/** One thing wrong with the base. */
export interface SchemaProblem {
  kind: 'missing-table' | 'missing-column' | 'wrong-type' | 'wrong-link';
  /** The table's name in the base. */
  table: string;
  /** The column's name in the base (absent for a missing table). */
  column?: string;
  /** One line for the admin, saying what is wrong and what is expected. */
  message: string;
  /** Whether `seatable init` can fix it (it only adds; it never changes an existing column). */
  fixableByInit: boolean;
}

/** The base's tables and columns, found by name, once the check passed. Optional columns may be null. */
export interface ResolvedSchema {
  tables: { [T in DirectoryTable]: SeaTableTable };
  columns: { [T in DirectoryTable]: { [C in DirectoryColumns[T]]: SeaTableColumn | null } };
}

/** The result of comparing a base with the model. */
export interface SchemaCheck {
  problems: SchemaProblem[];
  /** Null when a required table or column is missing or unusable. */
  schema: ResolvedSchema | null;
}

function describeTypes(types: readonly string[]): string {
  return types.length === 1 ? types[0]! : `${types.slice(0, -1).join(', ')} or ${types[types.length - 1]}`;
}

/** Compares the base's metadata with the model. Optional columns are checked only when present. */
export function checkSchema(metadata: SeaTableMetadata, names: SeaTableNames): SchemaCheck {
  const problems: SchemaProblem[] = [];
  const tables: Partial<Record<DirectoryTable, SeaTableTable>> = {};
  const columns: Partial<Record<DirectoryTable, Record<string, SeaTableColumn | null>>> = {};
  const mailboxesTable = findTable(metadata, names.tables.Mailboxes);
  for (const logical of DIRECTORY_TABLES) {
    const tableName = names.tables[logical];
    const table = findTable(metadata, tableName);
    if (!table) {
      problems.push({
        kind: 'missing-table',
        table: tableName,
        message: `table "${tableName}" is missing (columns: ${DIRECTORY_SCHEMA[logical]
          .filter((c) => !c.optional)
          .map((c) => (names.columns[logical] as Record<string, string>)[c.name])
          .join(', ')})`,
        fixableByInit: true,
      });
      continue;
    }
    tables[logical] = table;
    const found: Record<string, SeaTableColumn | null> = {};
    for (const model of DIRECTORY_SCHEMA[logical]) {
      const columnName = (names.columns[logical] as Record<string, string>)[model.name]!;
      const column = table.columns.find((c) => c.name === columnName);
      found[model.name] = null;
      if (!column) {
        if (!model.optional) {
          problems.push({
            kind: 'missing-column',
            table: tableName,
            column: columnName,
            message: `column "${columnName}" is missing in table "${tableName}" (type ${model.accepts[0]})`,
            fixableByInit: true,
          });
        }
        continue;
      }
      if (!model.accepts.includes(column.type)) {
        problems.push({
          kind: 'wrong-type',
          table: tableName,
          column: columnName,
          message: `column "${columnName}" in table "${tableName}" is of type ${column.type}; it must be ${describeTypes(model.accepts)}`,
          fixableByInit: false,
        });
        continue;
      }
      if (column.type === 'link' && mailboxesTable && linkedTableId(table, column) !== mailboxesTable._id) {
        problems.push({
          kind: 'wrong-link',
          table: tableName,
          column: columnName,
          message: `column "${columnName}" in table "${tableName}" links to another table; it must link to "${mailboxesTable.name}"`,
          fixableByInit: false,
        });
        continue;
      }
      found[model.name] = column;
    }
    columns[logical] = found;
  }
  if (problems.length > 0) return { problems, schema: null };
  return {
    problems,
    schema: { tables, columns } as ResolvedSchema,
  };
}

/** The admin-facing text for a failed check: every problem, then how to fix them. */
export function describeSchemaProblems(problems: readonly SchemaProblem[]): string {
  const lines = [
    'The SeaTable base does not match the directory schema (docs/seatable.md):',
    ...problems.map((problem) => `  - ${problem.message}`),
  ];
  if (problems.some((problem) => problem.fixableByInit)) {
    lines.push(
      'Run `superset-telegram-bot seatable init` to create the missing tables and columns (it never changes existing columns or rows), or add them by hand with the types shown.',
    );
  }
  if (problems.some((problem) => !problem.fixableByInit)) {
    lines.push(
      'Change the type of a wrong column by hand in SeaTable (column menu → Edit column), or point the bot to another column with SEATABLE_COLUMN_NAMES.',
    );
  }
  return lines.join('\n');
}

/** The base does not have the tables and columns the directory needs. */
export class SeaTableSchemaError extends Error {
  constructor(readonly problems: readonly SchemaProblem[]) {
    super(describeSchemaProblems(problems));
    this.name = 'SeaTableSchemaError';
  }
}

/** The result of `checkSeaTableBase`, for `superset-telegram-bot check`. */
export interface SeaTableBaseCheck {
  /** The base's name, when the token exchange worked. */
  baseName: string | null;
  /** Why the base could not be read (unreachable, token refused…); null when it was read. */
  error: string | null;
  /** What is missing or wrong; empty when the base is complete (or could not be read). */
  problems: SchemaProblem[];
}

/**
 * Connects to the base (token exchange, api-gateway) and compares its tables with the model. Never
 * throws: an unreachable server or a refused token comes back as `error`, described (and scrubbed
 * of secrets) by `describeError`.
 */
export async function checkSeaTableBase(
  client: SeaTableClient,
  names: SeaTableNames,
  describeError: (error: unknown) => string,
): Promise<SeaTableBaseCheck> {
  let baseName: string | null = null;
  try {
    baseName = (await client.checkUseApiGateway()).dtableName;
    return { baseName, error: null, problems: checkSchema(await client.getMetadata(), names).problems };
  } catch (error) {
    return { baseName, error: describeError(error), problems: [] };
  }
}

/** What `seatable init` did. */
export interface SchemaInitResult {
  /** One line per table or column created, in order. */
  created: string[];
  /** Optional columns the base lacks and init left out (without `withOptional`), as `Table.Column`. */
  optionalLeftOut: string[];
  /** Problems init cannot fix (wrong types, wrong links); empty when the base is now complete. */
  remaining: SchemaProblem[];
}

function columnDefinition(model: ColumnModel, name: string, names: SeaTableNames): SeaTableColumnDefinition {
  const { linkToMailboxes, ...definition } = model.create;
  return linkToMailboxes ? { ...definition, name, linkTo: names.tables.Mailboxes } : { ...definition, name };
}

export interface SchemaInitOptions {
  /**
   * Also create the optional columns (Media mode, Mark seen, Sender auth…). Default false: a base
   * gets only what the bot needs, and an optional column left out means the global setting.
   */
  withOptional?: boolean;
}

/**
 * Creates the missing tables and the missing required columns (optional ones too with
 * `withOptional`), in the model's order. Never changes or removes an existing table, column or row;
 * a second run creates nothing.
 */
export async function initSchema(
  client: SeaTableClient,
  names: SeaTableNames,
  options: SchemaInitOptions = {},
): Promise<SchemaInitResult> {
  const created: string[] = [];
  const optionalLeftOut: string[] = [];
  let metadata = await client.getMetadata();
  for (const logical of DIRECTORY_TABLES) {
    const tableName = names.tables[logical];
    const columnNames = names.columns[logical] as Record<string, string>;
    const models = DIRECTORY_SCHEMA[logical].filter((model) => {
      if (!model.optional || options.withOptional) return true;
      const present = findTable(metadata, tableName)?.columns.some((c) => c.name === columnNames[model.name]);
      if (!present) optionalLeftOut.push(`${tableName}.${columnNames[model.name]}`);
      return false;
    });
    let table = findTable(metadata, tableName);
    if (!table) {
      // links are added afterwards: a table is created with plain columns only
      const plain = models.filter((model) => !model.create.linkToMailboxes);
      await client.createTable(
        tableName,
        plain.map((model) => columnDefinition(model, columnNames[model.name]!, names)),
      );
      created.push(`table "${tableName}" with columns ${plain.map((m) => columnNames[m.name]).join(', ')}`);
      metadata = await client.getMetadata();
      table = findTable(metadata, tableName);
      if (!table) throw new Error(`SeaTable did not create table "${tableName}"`);
    }
    for (const model of models) {
      const name = columnNames[model.name]!;
      if (table.columns.some((column) => column.name === name)) continue;
      const definition = columnDefinition(model, name, names);
      await client.addColumn(tableName, definition);
      created.push(
        definition.linkTo
          ? `column "${name}" in table "${tableName}" (link to "${definition.linkTo}")`
          : `column "${name}" in table "${tableName}" (${definition.type})`,
      );
    }
    metadata = await client.getMetadata();
  }
  return { created, optionalLeftOut, remaining: checkSchema(metadata, names).problems };
}
