/**
 * The in-memory SeaTable base behind FakeSeaTable: tables, columns, rows, select options and links,
 * and the value rules of the row API (what a write stores, what a read returns). No HTTP here.
 * Sources and decisions are listed at the top of fake-seatable.ts.
 */
import { randomBytes, randomInt } from 'node:crypto';

/** An API failure: the HTTP status and the JSON body SeaTable would send. */
export class FakeApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
  ) {
    super(`${status} ${JSON.stringify(body)}`);
  }
}

/** 400 with the api-gateway's `{"error_message": …}` body. */
export function badRequest(message: string): FakeApiError {
  return new FakeApiError(400, { error_message: message });
}

/** 404 with the api-gateway's `{"error_message": …}` body. */
export function notFound(message: string): FakeApiError {
  return new FakeApiError(404, { error_message: message });
}

/** Column types of the API's column model (api.seatable.com, base_operations.yaml). */
export const COLUMN_TYPES = [
  'text',
  'long-text',
  'number',
  'checkbox',
  'date',
  'duration',
  'rate',
  'single-select',
  'multiple-select',
  'email',
  'url',
  'collaborator',
  'image',
  'file',
  'geolocation',
  'link',
  'link-formula',
  'formula',
  'auto-number',
  'creator',
  'ctime',
  'last-modifier',
  'mtime',
  'button',
  'digital-sign',
] as const;

export type FakeColumnType = (typeof COLUMN_TYPES)[number];

/** Types the row API silently ignores on write (research note §2.7). */
export const API_READ_ONLY_TYPES: ReadonlySet<string> = new Set([
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

/** Types SQL INSERT/UPDATE cannot write (developer docs, sql/limitations.md "Column writability"). */
export const SQL_READ_ONLY_TYPES: ReadonlySet<string> = new Set([
  ...API_READ_ONLY_TYPES,
  'image',
  'file',
  'geolocation',
]);

/** "The first column can only be … text, number, date, single select, formula and autonumber" (Create Table). */
const FIRST_COLUMN_TYPES: ReadonlySet<string> = new Set([
  'text',
  'number',
  'date',
  'single-select',
  'formula',
  'auto-number',
]);

/** Link cells carry at most 50 entries since 5.3 (List Rows, Query SQL). */
export const LINK_CELL_CAP = 50;

/** The `_creator`/`_last_modifier` of every row the fake writes: an API token acts as no real user. */
export const FAKE_CREATOR = '4d8c2b1f0e7a4c9d8b6a5f4e3d2c1b0a@auth.local';

export interface SelectOption {
  id: string;
  name: string;
  color: string;
  textColor: string;
}

export interface FakeColumn {
  key: string;
  name: string;
  type: FakeColumnType;
  data: Record<string, unknown> | null;
}

export interface FakeRow {
  _id: string;
  /** Epoch ms. */
  ctime: number;
  /** Epoch ms. */
  mtime: number;
  creator: string;
  lastModifier: string;
  /** Stored values by column key: select cells hold option ids, as SeaTable stores them. */
  cells: Map<string, unknown>;
}

export interface FakeTable {
  _id: string;
  name: string;
  columns: FakeColumn[];
  rows: FakeRow[];
  autoNumbers: Map<string, number>;
}

interface FakeLink {
  linkId: string;
  /** The table the link column was created in. */
  tableId: string;
  otherTableId: string;
  /** Insertion order is the order of link cells. */
  pairs: Array<{ rowId: string; otherRowId: string }>;
}

/** A column to create: the API's `column_name`/`column_type`/`column_data`, already unpacked. */
export interface ColumnSpec {
  name: string;
  type: string;
  data?: Record<string, unknown> | null;
  /** Name or key of the column the new one goes after (Insert Column `anchor_column`). */
  anchor?: string;
  /** Link columns only: name of the twin column in the other table (default: this table's name). */
  twinName?: string;
}

/** A row as list-rows returns it. */
export type RowJson = Record<string, unknown>;

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const OPTION_COLORS = [
  '#FFFCB5',
  '#FFEAB6',
  '#FFD9C8',
  '#B7CEF9',
  '#E9E9E9',
  '#DCFFFE',
  '#FFDDE5',
  '#D1FFE0',
];

function shortId(taken: (id: string) => boolean): string {
  for (;;) {
    let id = '';
    for (let i = 0; i < 4; i++) id += ALNUM[randomInt(ALNUM.length)];
    if (!taken(id)) return id;
  }
}

/** A row `_id`: 22 chars of `[A-Za-z0-9\-_]`, like SeaTable's (16 random bytes, base64url). */
export function newRowId(): string {
  return randomBytes(16).toString('base64url');
}

/** The timestamp format of `_ctime`/`_mtime` in list-rows: `2021-03-10T16:06:48.981+00:00`. */
export function rowTimestamp(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '+00:00');
}

function isEmpty(value: unknown): boolean {
  return (
    value === null || value === undefined || value === '' || (Array.isArray(value) && value.length === 0)
  );
}

export class FakeBase {
  readonly tables: FakeTable[] = [];
  /** Bumped on every schema change, like metadata `version`. */
  version = 1;
  private readonly links = new Map<string, FakeLink>();

  constructor(private readonly now: () => number) {}

  // ---- lookup ----

  /** The table named by a request's `table_name` or `table_id`; 404 when neither matches. */
  table(ref: { name?: unknown; id?: unknown }): FakeTable {
    const table =
      typeof ref.name === 'string'
        ? this.tables.find((t) => t.name === ref.name)
        : typeof ref.id === 'string'
          ? this.tables.find((t) => t._id === ref.id)
          : undefined;
    if (!table) {
      if (typeof ref.name !== 'string' && typeof ref.id !== 'string') throw badRequest('table_name invalid');
      throw notFound('table not found');
    }
    return table;
  }

  tableNamed(name: string): FakeTable | undefined {
    return this.tables.find((t) => t.name === name);
  }

  tableById(id: string): FakeTable | undefined {
    return this.tables.find((t) => t._id === id);
  }

  columnNamed(table: FakeTable, name: string): FakeColumn | undefined {
    return table.columns.find((c) => c.name === name);
  }

  /** Insert/Update Column accept "the name or the key" of a column. */
  columnByNameOrKey(table: FakeTable, ref: string): FakeColumn | undefined {
    return table.columns.find((c) => c.name === ref) ?? table.columns.find((c) => c.key === ref);
  }

  rowById(table: FakeTable, rowId: string): FakeRow | undefined {
    return table.rows.find((r) => r._id === rowId);
  }

  // ---- metadata ----

  columnJson(column: FakeColumn): Record<string, unknown> {
    return {
      key: column.key,
      type: column.type,
      name: column.name,
      editable: true,
      width: 200,
      resizable: true,
      draggable: true,
      data: column.data,
      permission_type: '',
      permitted_users: [],
      description: null,
    };
  }

  private viewJson(): Record<string, unknown> {
    return {
      _id: '0000',
      name: 'Default View',
      type: 'table',
      is_locked: false,
      rows: [],
      formula_rows: {},
      summaries: [],
      filter_conjunction: 'And',
      filters: [],
      sorts: [],
      hidden_columns: [],
      groupbys: [],
      groups: [],
    };
  }

  tableJson(table: FakeTable): Record<string, unknown> {
    return {
      _id: table._id,
      name: table.name,
      columns: table.columns.map((c) => this.columnJson(c)),
      views: [this.viewJson()],
    };
  }

  /** The Get Metadata response body. */
  metadataJson(): Record<string, unknown> {
    return {
      metadata: {
        tables: this.tables.map((t) => this.tableJson(t)),
        version: this.version,
        format_version: 7,
        settings: {},
      },
    };
  }

  /** The only view the fake models is each table's "Default View" (no filters, nothing hidden). */
  hasView(ref: { name?: unknown; id?: unknown }): boolean {
    return ref.name === 'Default View' || ref.id === '0000';
  }

  // ---- schema changes ----

  createTable(name: string, columns: ColumnSpec[]): FakeTable {
    if (typeof name !== 'string' || name.trim() === '') throw badRequest('table_name invalid');
    if (this.tableNamed(name)) throw badRequest(`table ${name} already exists`);
    const specs = columns.length > 0 ? columns : [{ name: 'Name', type: 'text' }];
    const first = specs[0]!;
    if (!FIRST_COLUMN_TYPES.has(first.type)) {
      throw badRequest(`the first column cannot be of type ${first.type}`);
    }
    const table: FakeTable = {
      _id: this.tables.length === 0 ? '0000' : shortId((id) => this.tableById(id) !== undefined),
      name,
      columns: [],
      rows: [],
      autoNumbers: new Map(),
    };
    this.tables.push(table);
    try {
      for (const spec of specs) this.addColumn(table, spec);
    } catch (error) {
      this.tables.splice(this.tables.indexOf(table), 1);
      throw error;
    }
    this.version++;
    return table;
  }

  addColumn(table: FakeTable, spec: ColumnSpec): FakeColumn {
    if (typeof spec.name !== 'string' || spec.name.trim() === '' || /[.{}`]/.test(spec.name)) {
      throw badRequest('column_name invalid');
    }
    if (!(COLUMN_TYPES as readonly string[]).includes(spec.type)) throw badRequest('column_type invalid');
    if (this.columnNamed(table, spec.name)) throw badRequest(`column ${spec.name} already exists`);
    let anchorIndex = table.columns.length;
    if (spec.anchor !== undefined) {
      const anchor = this.columnByNameOrKey(table, spec.anchor);
      if (!anchor) throw notFound('anchor column not found');
      anchorIndex = table.columns.indexOf(anchor) + 1;
    }
    const column: FakeColumn = {
      key: table.columns.length === 0 ? '0000' : this.newColumnKey(table),
      name: spec.name,
      type: spec.type as FakeColumnType,
      data: null,
    };
    if (column.type === 'link') {
      table.columns.splice(anchorIndex, 0, column);
      try {
        this.createLink(table, column, spec.data ?? null, spec.twinName);
      } catch (error) {
        table.columns.splice(table.columns.indexOf(column), 1);
        throw error;
      }
    } else {
      column.data = this.initialColumnData(column.type, spec.data ?? null);
      table.columns.splice(anchorIndex, 0, column);
      if (column.type === 'auto-number') {
        for (const row of table.rows) this.assignAutoNumber(table, column, row);
      }
    }
    this.version++;
    return column;
  }

  private newColumnKey(table: FakeTable): string {
    return shortId((id) => id === '0000' || table.columns.some((c) => c.key === id));
  }

  private initialColumnData(
    type: FakeColumnType,
    data: Record<string, unknown> | null,
  ): Record<string, unknown> | null {
    switch (type) {
      case 'single-select':
      case 'multiple-select': {
        const options = Array.isArray(data?.options) ? (data.options as Array<Partial<SelectOption>>) : [];
        const taken = new Set<string>();
        return {
          ...data,
          options: options.map((o, i) => {
            const id = typeof o.id === 'string' && !taken.has(o.id) ? o.id : this.newOptionId(taken);
            taken.add(id);
            return {
              id,
              name: String(o.name ?? ''),
              color: o.color ?? OPTION_COLORS[i % OPTION_COLORS.length],
              textColor: o.textColor ?? '#212529',
            };
          }),
        };
      }
      case 'auto-number':
        return {
          format: '0000',
          max_used_auto_number: 0,
          digits: 4,
          prefix_type: null,
          prefix: null,
          ...data,
        };
      case 'date':
        return { format: 'YYYY-MM-DD', ...data };
      case 'number':
        return { format: 'number', decimal: 'dot', thousands: 'no', ...data };
      default:
        return data;
    }
  }

  private newOptionId(taken: Set<string>): string {
    for (;;) {
      const id = String(randomInt(100000, 1000000));
      if (!taken.has(id)) return id;
    }
  }

  /**
   * A link column's `column_data` is `{table, other_table}` (table names; Insert Column,
   * link_column_format). The other table gets the twin column, both share one `link_id`, and each
   * column's `data.table_id` is the table that holds it (developer docs, python/objects/links.md).
   */
  private createLink(
    table: FakeTable,
    column: FakeColumn,
    data: Record<string, unknown> | null,
    twinName = table.name,
  ): void {
    const otherName = data?.other_table;
    if (typeof otherName !== 'string') throw badRequest('column_data invalid: other_table is required');
    if (typeof data?.table === 'string' && data.table !== table.name) {
      throw badRequest('column_data invalid: table must be the table of the new column');
    }
    const other = this.tableNamed(otherName);
    if (!other) throw notFound(`table ${otherName} not found`);
    const linkId = shortId((id) => this.links.has(id));
    this.links.set(linkId, { linkId, tableId: table._id, otherTableId: other._id, pairs: [] });
    column.data = this.linkColumnData(table, other, linkId);
    if (other === table) return;
    let name = twinName;
    for (let n = 2; this.columnNamed(other, name); n++) name = `${twinName}${n}`;
    other.columns.push({
      key: this.newColumnKey(other),
      name,
      type: 'link',
      data: this.linkColumnData(other, table, linkId),
    });
  }

  private linkColumnData(holder: FakeTable, other: FakeTable, linkId: string): Record<string, unknown> {
    return {
      display_column_key: other.columns[0]?.key ?? '0000',
      table_id: holder._id,
      other_table_id: other._id,
      is_internal_link: true,
      is_multiple: true,
      is_row_from_view: false,
      other_view_id: '',
      link_id: linkId,
    };
  }

  // ---- rows ----

  /**
   * Appends rows given by column name. `mode: 'api'` applies the row API's rules (unknown and
   * read-only columns ignored); `mode: 'seed'` also stores values of computed columns (formula,
   * auto-number…) so fixtures can set what the server would have computed. Links are set apart.
   */
  appendRows(
    table: FakeTable,
    rows: Array<Record<string, unknown>>,
    mode: 'api' | 'seed',
    position?: { anchorRowId: string; above: boolean },
  ): FakeRow[] {
    let index = table.rows.length;
    if (position) {
      const anchor = table.rows.findIndex((r) => r._id === position.anchorRowId);
      if (anchor < 0) throw notFound('anchor row not found');
      index = position.above ? anchor : anchor + 1;
    }
    const created: FakeRow[] = [];
    for (const values of rows) {
      const time = this.now();
      const row: FakeRow = {
        _id: mode === 'seed' && typeof values._id === 'string' ? values._id : newRowId(),
        ctime: time,
        mtime: time,
        creator: FAKE_CREATOR,
        lastModifier: FAKE_CREATOR,
        cells: new Map(),
      };
      this.writeValues(table, row, values, mode);
      for (const column of table.columns) {
        if (column.type === 'auto-number' && !row.cells.has(column.key))
          this.assignAutoNumber(table, column, row);
      }
      created.push(row);
    }
    table.rows.splice(index, 0, ...created);
    return created;
  }

  private assignAutoNumber(table: FakeTable, column: FakeColumn, row: FakeRow): void {
    const next = (table.autoNumbers.get(column.key) ?? 0) + 1;
    table.autoNumbers.set(column.key, next);
    const format = typeof column.data?.format === 'string' ? column.data.format : '0000';
    const match = /^(.*?)(0+)$/.exec(format);
    row.cells.set(
      column.key,
      match ? `${match[1]}${String(next).padStart(match[2]!.length, '0')}` : String(next),
    );
    if (column.data) column.data.max_used_auto_number = next;
  }

  /**
   * Writes column-name → value pairs into a row; returns whether any column took a value (which
   * bumps `_mtime`). Unknown names, `_…` system fields and read-only types are ignored silently.
   */
  writeValues(
    table: FakeTable,
    row: FakeRow,
    values: Record<string, unknown>,
    mode: 'api' | 'seed',
  ): boolean {
    let wrote = false;
    for (const [name, value] of Object.entries(values)) {
      const column = this.columnNamed(table, name);
      if (!column || column.type === 'link') continue;
      if (mode === 'api' && API_READ_ONLY_TYPES.has(column.type)) continue;
      if (mode === 'seed' && ['ctime', 'mtime', 'creator', 'last-modifier'].includes(column.type)) continue;
      if (this.writeCell(column, row, value)) wrote = true;
    }
    if (wrote) this.touch(row);
    return wrote;
  }

  /** `_mtime` moves forward on every write, even two writes in the same millisecond. */
  touch(row: FakeRow): void {
    row.mtime = Math.max(this.now(), row.mtime + 1);
    row.lastModifier = FAKE_CREATOR;
  }

  /**
   * Stores one value in the column's storage format; returns false when the value does not fit the
   * type (then the cell is left alone: a typed write of the wrong shape is a silent no-op too).
   */
  writeCell(column: FakeColumn, row: FakeRow, value: unknown): boolean {
    if (isEmpty(value)) {
      row.cells.delete(column.key);
      return true;
    }
    const stored = this.toStored(column, value);
    if (stored === undefined) return false;
    row.cells.set(column.key, stored);
    return true;
  }

  private toStored(column: FakeColumn, value: unknown): unknown {
    switch (column.type) {
      case 'text':
      case 'long-text':
      case 'email':
      case 'url':
      case 'auto-number':
        return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean'
          ? String(value)
          : undefined;
      case 'number':
      case 'duration':
      case 'rate':
        if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
        if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value)))
          return Number(value);
        return undefined;
      case 'checkbox':
        if (typeof value === 'boolean') return value;
        if (value === 'true' || value === 'false') return value === 'true';
        return undefined;
      case 'date':
        return typeof value === 'string' && !Number.isNaN(Date.parse(value.replace(' ', 'T')))
          ? value.trim()
          : undefined;
      case 'single-select':
        return typeof value === 'string' ? this.optionId(column, value) : undefined;
      case 'multiple-select': {
        const names = typeof value === 'string' ? [value] : Array.isArray(value) ? value : undefined;
        if (!names?.every((n) => typeof n === 'string')) return undefined;
        return [...new Set(names.map((n) => this.optionId(column, n as string)))];
      }
      case 'collaborator':
        return Array.isArray(value) && value.every((v) => typeof v === 'string') ? [...value] : undefined;
      default:
        return structuredClone(value);
    }
  }

  /** The id of the option with this name; unknown names become new options (changelog 4.1). */
  optionId(column: FakeColumn, name: string): string {
    if (!column.data) column.data = { options: [] };
    if (!Array.isArray(column.data.options)) column.data.options = [];
    const options = column.data.options as SelectOption[];
    const existing = options.find((o) => o.name === name);
    if (existing) return existing.id;
    const option: SelectOption = {
      id: this.newOptionId(new Set(options.map((o) => o.id))),
      name,
      color: OPTION_COLORS[options.length % OPTION_COLORS.length]!,
      textColor: '#212529',
    };
    options.push(option);
    this.version++;
    return option.id;
  }

  optionName(column: FakeColumn, id: unknown): string | null {
    const options = (column.data?.options ?? []) as SelectOption[];
    return options.find((o) => o.id === id)?.name ?? null;
  }

  deleteRows(table: FakeTable, rowIds: string[]): number {
    const doomed = new Set(rowIds);
    const before = table.rows.length;
    table.rows = table.rows.filter((r) => !doomed.has(r._id));
    for (const link of this.links.values()) {
      link.pairs = link.pairs.filter(
        (p) =>
          !(link.tableId === table._id && doomed.has(p.rowId)) &&
          !(link.otherTableId === table._id && doomed.has(p.otherRowId)),
      );
    }
    return before - table.rows.length;
  }

  // ---- reading ----

  /** A row as list-rows / get-row return it: every column present, `null` when empty (5.0+). */
  rowJson(table: FakeTable, row: FakeRow, convertKeys: boolean): RowJson {
    const json: RowJson = {
      _id: row._id,
      _ctime: rowTimestamp(row.ctime),
      _mtime: rowTimestamp(row.mtime),
      _creator: row.creator,
      _last_modifier: row.lastModifier,
      _locked: null,
      _locked_by: null,
      _archived: false,
    };
    for (const column of table.columns) {
      json[convertKeys ? column.name : column.key] = this.cellJson(table, row, column);
    }
    return json;
  }

  /** One cell in list-rows format: select cells as option names, links as `[{row_id, display_value}]`. */
  cellJson(table: FakeTable, row: FakeRow, column: FakeColumn): unknown {
    switch (column.type) {
      case 'link':
        return this.linkCell(table, row, column);
      case 'single-select':
        return this.optionName(column, row.cells.get(column.key));
      case 'multiple-select': {
        const ids = (row.cells.get(column.key) as unknown[] | undefined) ?? [];
        const names = ids.map((id) => this.optionName(column, id)).filter((n): n is string => n !== null);
        return names.length > 0 ? names : null;
      }
      case 'ctime':
        return rowTimestamp(row.ctime);
      case 'mtime':
        return rowTimestamp(row.mtime);
      case 'creator':
        return row.creator;
      case 'last-modifier':
        return row.lastModifier;
      default: {
        const value = row.cells.get(column.key);
        return value === undefined ? null : structuredClone(value);
      }
    }
  }

  linkCell(
    table: FakeTable,
    row: FakeRow,
    column: FakeColumn,
  ): Array<{ row_id: string; display_value: string }> {
    return this.linkedRows(table, row, column)
      .slice(0, LINK_CELL_CAP)
      .map((linked) => ({
        row_id: linked.row._id,
        display_value: this.displayValue(linked.table, linked.row),
      }));
  }

  /** Rows linked to `row` through link column `column` of `table`, in link creation order. */
  linkedRows(table: FakeTable, row: FakeRow, column: FakeColumn): Array<{ table: FakeTable; row: FakeRow }> {
    const link = this.links.get(String(column.data?.link_id));
    if (!link) return [];
    const forward = table._id === link.tableId;
    const other = this.tableById(forward ? link.otherTableId : link.tableId);
    if (!other) return [];
    const result: Array<{ table: FakeTable; row: FakeRow }> = [];
    for (const pair of link.pairs) {
      const [mine, theirs] = forward ? [pair.rowId, pair.otherRowId] : [pair.otherRowId, pair.rowId];
      if (mine !== row._id) continue;
      const linked = this.rowById(other, theirs);
      if (linked) result.push({ table: other, row: linked });
    }
    return result;
  }

  /** The table a link column points to. */
  linkTarget(table: FakeTable, column: FakeColumn): FakeTable | undefined {
    const link = this.links.get(String(column.data?.link_id));
    if (!link) return undefined;
    return this.tableById(table._id === link.tableId ? link.otherTableId : link.tableId);
  }

  /** The display value of a linked row: its first column, as text. */
  displayValue(table: FakeTable, row: FakeRow): string {
    const column = table.columns[0];
    if (!column) return '';
    const value = this.cellJson(table, row, column);
    if (value === null || value === undefined) return '';
    if (Array.isArray(value)) {
      return value
        .map((v) => (typeof v === 'object' && v && 'display_value' in v ? v.display_value : v))
        .join(', ');
    }
    return String(value);
  }

  // ---- links ----

  /**
   * Create/Update/Delete Row Links. `rowsMap` maps rows of `table` to rows of `other`; the pair of
   * tables may be given in either direction of the link.
   */
  changeLinks(
    linkId: string,
    table: FakeTable,
    other: FakeTable,
    rowsMap: Record<string, unknown>,
    operation: 'add' | 'replace' | 'remove',
  ): number {
    const link = this.links.get(linkId);
    if (!link) throw notFound('link not found');
    let forward: boolean;
    if (link.tableId === table._id && link.otherTableId === other._id) forward = true;
    else if (link.tableId === other._id && link.otherTableId === table._id) forward = false;
    else throw badRequest('link_id does not link these tables');
    let changed = 0;
    for (const [rowId, otherIds] of Object.entries(rowsMap)) {
      if (!Array.isArray(otherIds) || !otherIds.every((id) => typeof id === 'string')) {
        throw badRequest('other_rows_ids_map invalid');
      }
      if (!this.rowById(table, rowId)) throw notFound(`row ${rowId} not found`);
      for (const otherId of otherIds) {
        if (!this.rowById(other, otherId)) throw notFound(`row ${otherId} not found`);
      }
      const pairOf = (otherId: string) =>
        forward ? { rowId, otherRowId: otherId } : { rowId: otherId, otherRowId: rowId };
      const sameRow = (p: { rowId: string; otherRowId: string }) =>
        (forward ? p.rowId : p.otherRowId) === rowId;
      const has = (otherId: string) =>
        link.pairs.some((p) => sameRow(p) && (forward ? p.otherRowId : p.rowId) === otherId);
      if (operation === 'add') {
        for (const otherId of otherIds) {
          if (has(otherId)) throw badRequest(`link between ${rowId} and ${otherId} already exists`);
          link.pairs.push(pairOf(otherId));
          changed++;
        }
      } else if (operation === 'replace') {
        link.pairs = link.pairs.filter((p) => !sameRow(p));
        for (const otherId of new Set(otherIds)) link.pairs.push(pairOf(otherId));
        changed++;
      } else {
        const before = link.pairs.length;
        const doomed = new Set(otherIds);
        link.pairs = link.pairs.filter((p) => !(sameRow(p) && doomed.has(forward ? p.otherRowId : p.rowId)));
        changed += before - link.pairs.length;
      }
    }
    return changed;
  }
}
