/**
 * The shapes of SeaTable's api-gateway (v2) payloads that the bot reads: metadata, rows, SQL
 * results. Field names are the API's own (snake_case), so a payload can be used as is.
 * Reference: api.seatable.com (OpenAPI base_operations.yaml) and the research note
 * shared/research/seatable-api.md §2.
 */

/** Column types of the API's column model; other strings may appear on newer servers. */
export type SeaTableColumnType =
  | 'text'
  | 'long-text'
  | 'number'
  | 'checkbox'
  | 'date'
  | 'duration'
  | 'rate'
  | 'single-select'
  | 'multiple-select'
  | 'email'
  | 'url'
  | 'collaborator'
  | 'image'
  | 'file'
  | 'geolocation'
  | 'link'
  | 'link-formula'
  | 'formula'
  | 'auto-number'
  | 'creator'
  | 'ctime'
  | 'last-modifier'
  | 'mtime'
  | 'button'
  | 'digital-sign'
  | (string & {});

/**
 * Column types whose values the row API ignores on write (it answers success all the same), so a
 * write that targets them can never land.
 */
export const READ_ONLY_COLUMN_TYPES: ReadonlySet<string> = new Set([
  'link',
  'link-formula',
  'formula',
  'auto-number',
  'button',
  'creator',
  'ctime',
  'last-modifier',
  'mtime',
  'digital-sign',
]);

/** One option of a single- or multiple-select column (`data.options`). */
export interface SeaTableSelectOption {
  /** 6-character id; SQL without convert_keys returns this instead of the name. */
  id: string;
  name: string;
  color?: string;
  textColor?: string;
}

/** `data` of a link column. Both link columns of a pair share `link_id`; `key` is not the link id. */
export interface SeaTableLinkData {
  link_id: string;
  table_id: string;
  other_table_id: string;
  /** Key of the column in the linked table whose value is a link cell's `display_value`. */
  display_column_key?: string;
  is_multiple?: boolean;
}

export interface SeaTableColumn {
  /** 4-character key, unique in its table; the first column's is "0000". */
  key: string;
  name: string;
  type: SeaTableColumnType;
  /** Type-specific settings: select `options`, link ids, date `format`…; null for plain types. */
  data: Record<string, unknown> | null;
}

export interface SeaTableView {
  _id: string;
  name: string;
}

export interface SeaTableTable {
  /** 4-character id, unique in the base. */
  _id: string;
  name: string;
  columns: SeaTableColumn[];
  views?: SeaTableView[];
}

/** The `metadata` object of Get Metadata. */
export interface SeaTableMetadata {
  tables: SeaTableTable[];
  /** Bumped by the server on every schema change. */
  version?: number;
  format_version?: number;
}

/** A link cell entry, as list-rows, get-row and SQL return it (SeaTable ≥ 5.0). */
export interface SeaTableLinkCell {
  row_id: string;
  display_value: string;
}

/**
 * A row: `_id` plus one entry per column, keyed by column name (convert_keys) or key. Since 5.0
 * every column is present, `null` when empty; link cells are `SeaTableLinkCell[]`.
 */
export interface SeaTableRow {
  /** 22 characters of `[A-Za-z0-9_-]`. */
  _id: string;
  _ctime?: string;
  _mtime?: string;
  [column: string]: unknown;
}

/** The result of a SELECT. */
export interface SeaTableSqlResult {
  /** The selected columns. */
  metadata: SeaTableColumn[];
  results: SeaTableRow[];
}

/** A value bound to a `?` placeholder. */
export type SeaTableSqlParameter = string | number | boolean | null;

/** A column to create with `createTable` or `addColumn`. */
export interface SeaTableColumnDefinition {
  name: string;
  type: SeaTableColumnType;
  /** `column_data` as the API takes it, e.g. `{options: [{name: 'admin'}]}` or `{format: 'YYYY-MM-DD'}`. */
  data?: Record<string, unknown>;
  /** For `type: 'link'`: the name of the table to link to (sent as `column_data.other_table`). */
  linkTo?: string;
}

/** One row to change: only the named columns change (names, not keys). */
export interface SeaTableRowUpdate {
  rowId: string;
  row: Record<string, unknown>;
}

/** The table of this name, or undefined. */
export function findTable(metadata: SeaTableMetadata, name: string): SeaTableTable | undefined {
  return metadata.tables.find((table) => table.name === name);
}

/**
 * The id of the table a link column points to. The API docs give each link column `table_id` =
 * its own table; reading it relative to `table` also works if a server reports both columns of a
 * pair with the same ids.
 */
export function linkedTableId(table: SeaTableTable, column: SeaTableColumn): string | undefined {
  const data = column.data as Partial<SeaTableLinkData> | null;
  if (column.type !== 'link' || !data?.table_id || !data.other_table_id) return undefined;
  return data.table_id === table._id ? data.other_table_id : data.table_id;
}
