/**
 * The SQL subset of FakeSeaTable's `POST …/sql/`, written from the developer manual
 * (seatable-developer-docs docs/sql/{select,update,data-types,limitations}.md) and the Query SQL
 * reference (api.seatable.com, base_operations.yaml):
 *
 *   SELECT * | col [, `col 2`, T.col …] FROM T | `My T`
 *     [WHERE cond] [ORDER BY col [ASC|DESC] [, …]] [LIMIT n [OFFSET m]]
 *   UPDATE T SET col = const [, …] [WHERE cond]
 *   DELETE FROM T [WHERE cond]
 *
 * cond: comparisons (= != <> < <= > >=), [NOT] IN (…), [NOT] LIKE / ILIKE, [NOT] BETWEEN … AND …,
 * IS [NOT] NULL, IS [NOT] TRUE, HAS ANY OF / HAS ALL OF / HAS NONE OF / IS EXACTLY (…), NOT, AND,
 * OR, parentheses. Constants: 'str', "str", numbers, TRUE, FALSE, NULL, and `?` bound in order from
 * `parameters`. Everything else the real server also rejects (JOIN keyword, subqueries, UNION,
 * CASE) or the fake does not implement (implicit joins, GROUP BY, HAVING, DISTINCT, functions,
 * aliases, arithmetic) is a 400 `{"error_message": …}`; the fake's own gaps say "FakeSeaTable".
 */
import {
  badRequest,
  type FakeApiError,
  type FakeBase,
  type FakeColumn,
  type FakeRow,
  type FakeTable,
  LINK_CELL_CAP,
  SQL_READ_ONLY_TYPES,
} from './fake-base.js';

/** Rows returned when the statement has no LIMIT. */
export const SQL_DEFAULT_LIMIT = 100;
/** Rows returned at most, whatever the LIMIT (a silent cap). */
export const SQL_MAX_LIMIT = 10_000;

export interface SqlResponse {
  success: true;
  metadata: Array<Record<string, unknown>> | null;
  results: Array<Record<string, unknown>> | null;
}

type Literal = string | number | boolean | null;

type Token =
  | { kind: 'word'; text: string; upper: string; pos: number }
  | { kind: 'quoted'; text: string; pos: number }
  | { kind: 'string'; text: string; pos: number }
  | { kind: 'number'; value: number; pos: number }
  | { kind: 'param'; pos: number }
  | { kind: 'punct'; text: string; pos: number }
  | { kind: 'end'; pos: number };

interface ColumnRef {
  table?: string;
  name: string;
}

type Operand = { kind: 'column'; ref: ColumnRef } | { kind: 'literal'; value: Literal };

type ListOperator = 'in' | 'has any of' | 'has all of' | 'has none of' | 'is exactly';

type Condition =
  | { kind: 'and' | 'or'; left: Condition; right: Condition }
  | { kind: 'not'; inner: Condition }
  | { kind: 'compare'; op: '=' | '!=' | '<' | '<=' | '>' | '>='; left: Operand; right: Operand }
  | { kind: 'list'; op: ListOperator; negated: boolean; operand: Operand; values: Operand[] }
  | { kind: 'like'; negated: boolean; caseInsensitive: boolean; operand: Operand; pattern: Operand }
  | { kind: 'between'; negated: boolean; operand: Operand; low: Operand; high: Operand }
  | { kind: 'is'; negated: boolean; operand: Operand; what: 'null' | 'true' };

type Statement =
  | {
      kind: 'select';
      columns: '*' | ColumnRef[];
      table: string;
      where?: Condition;
      orderBy: Array<{ ref: ColumnRef; desc: boolean }>;
      limit?: number;
      offset?: number;
    }
  | {
      kind: 'update';
      table: string;
      assignments: Array<{ ref: ColumnRef; value: Literal }>;
      where?: Condition;
    }
  | { kind: 'delete'; table: string; where?: Condition };

// ---------------------------------------------------------------- tokenizer

function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const word = /[\p{L}_][\p{L}\p{N}_]*/uy;
  const number = /\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
  while (i < sql.length) {
    const ch = sql[i]!;
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    const pos = i;
    if (ch === '`') {
      const end = sql.indexOf('`', i + 1);
      if (end < 0) throw badRequest(`sql syntax error: unterminated \` at position ${pos}`);
      tokens.push({ kind: 'quoted', text: sql.slice(i + 1, end), pos });
      i = end + 1;
      continue;
    }
    if (ch === "'" || ch === '"') {
      let text = '';
      i++;
      for (;;) {
        if (i >= sql.length) throw badRequest(`sql syntax error: unterminated string at position ${pos}`);
        const c = sql[i]!;
        if (c === '\\' && i + 1 < sql.length) {
          text += sql[i + 1];
          i += 2;
        } else if (c === ch && sql[i + 1] === ch) {
          text += ch;
          i += 2;
        } else if (c === ch) {
          i++;
          break;
        } else {
          text += c;
          i++;
        }
      }
      tokens.push({ kind: 'string', text, pos });
      continue;
    }
    number.lastIndex = i;
    const num = number.exec(sql);
    if (num) {
      tokens.push({ kind: 'number', value: Number(num[0]), pos });
      i += num[0].length;
      continue;
    }
    word.lastIndex = i;
    const w = word.exec(sql);
    if (w) {
      tokens.push({ kind: 'word', text: w[0], upper: w[0].toUpperCase(), pos });
      i += w[0].length;
      continue;
    }
    if (ch === '?') {
      tokens.push({ kind: 'param', pos });
      i++;
      continue;
    }
    const two = sql.slice(i, i + 2);
    if (two === '!=' || two === '<>' || two === '<=' || two === '>=') {
      tokens.push({ kind: 'punct', text: two === '<>' ? '!=' : two, pos });
      i += 2;
      continue;
    }
    if ('(),*.;=<>+-/'.includes(ch)) {
      tokens.push({ kind: 'punct', text: ch, pos });
      i++;
      continue;
    }
    throw badRequest(`sql syntax error: unexpected character '${ch}' at position ${pos}`);
  }
  tokens.push({ kind: 'end', pos: sql.length });
  return tokens;
}

// ---------------------------------------------------------------- parser

const RESERVED = new Set([
  'SELECT',
  'FROM',
  'WHERE',
  'AND',
  'OR',
  'NOT',
  'IN',
  'IS',
  'NULL',
  'TRUE',
  'FALSE',
  'LIKE',
  'ILIKE',
  'BETWEEN',
  'ORDER',
  'BY',
  'ASC',
  'DESC',
  'LIMIT',
  'OFFSET',
  'UPDATE',
  'SET',
  'DELETE',
  'HAS',
  'ANY',
  'ALL',
  'NONE',
  'OF',
  'EXACTLY',
  'GROUP',
  'HAVING',
  'JOIN',
  'UNION',
  'CASE',
  'AS',
  'DISTINCT',
  'INSERT',
]);

function unsupported(what: string): FakeApiError {
  return badRequest(`FakeSeaTable does not implement ${what}`);
}

class Parser {
  private at = 0;
  private nextParameter = 0;

  constructor(
    private readonly tokens: Token[],
    private readonly parameters: unknown[],
  ) {}

  parse(): Statement {
    const statement = this.statement();
    this.acceptPunct(';');
    const rest = this.peek();
    if (rest.kind !== 'end') throw this.syntaxError(rest);
    if (this.nextParameter !== this.parameters.length) {
      throw badRequest(
        `sql has ${this.nextParameter} placeholder(s) but ${this.parameters.length} parameter(s) were given`,
      );
    }
    return statement;
  }

  private statement(): Statement {
    if (this.acceptWord('SELECT')) return this.select();
    if (this.acceptWord('UPDATE')) return this.update();
    if (this.acceptWord('DELETE')) {
      this.expectWord('FROM');
      const table = this.tableName();
      const where = this.acceptWord('WHERE') ? this.condition() : undefined;
      return { kind: 'delete', table, where };
    }
    if (this.isWord(this.peek(), 'INSERT')) {
      throw badRequest('INSERT adds rows to the big data backend, which is not enabled for this base');
    }
    throw this.syntaxError(this.peek());
  }

  private select(): Statement {
    if (this.isWord(this.peek(), 'DISTINCT')) throw unsupported('DISTINCT');
    let columns: '*' | ColumnRef[];
    if (this.acceptPunct('*')) columns = '*';
    else {
      columns = [this.selectColumn()];
      while (this.acceptPunct(',')) columns.push(this.selectColumn());
    }
    this.expectWord('FROM');
    const table = this.tableName();
    if (this.isPunct(this.peek(), ',')) throw unsupported('implicit joins (several tables in FROM)');
    let where: Condition | undefined;
    if (this.acceptWord('WHERE')) where = this.condition();
    if (this.isWord(this.peek(), 'GROUP') || this.isWord(this.peek(), 'HAVING')) {
      throw unsupported('GROUP BY / HAVING');
    }
    const orderBy: Array<{ ref: ColumnRef; desc: boolean }> = [];
    if (this.acceptWord('ORDER')) {
      this.expectWord('BY');
      do {
        const ref = this.columnRef();
        let desc = false;
        if (this.acceptWord('DESC')) desc = true;
        else this.acceptWord('ASC');
        orderBy.push({ ref, desc });
      } while (this.acceptPunct(','));
    }
    let limit: number | undefined;
    let offset: number | undefined;
    if (this.acceptWord('LIMIT')) {
      limit = this.count('LIMIT');
      if (this.acceptWord('OFFSET')) offset = this.count('OFFSET');
    }
    return { kind: 'select', columns, table, where, orderBy, limit, offset };
  }

  private update(): Statement {
    const table = this.tableName();
    this.expectWord('SET');
    const assignments: Array<{ ref: ColumnRef; value: Literal }> = [];
    do {
      const ref = this.columnRef();
      this.expectPunct('=');
      const operand = this.operand();
      if (operand.kind !== 'literal') throw badRequest('UPDATE ... SET only accepts constant values');
      assignments.push({ ref, value: operand.value });
    } while (this.acceptPunct(','));
    const where = this.acceptWord('WHERE') ? this.condition() : undefined;
    if (this.isWord(this.peek(), 'LIMIT')) throw badRequest('LIMIT is not supported in UPDATE statements');
    return { kind: 'update', table, assignments, where };
  }

  private selectColumn(): ColumnRef {
    const ref = this.columnRef();
    if (this.isPunct(this.peek(), '(')) throw unsupported(`functions in the select list (${ref.name})`);
    if (this.isWord(this.peek(), 'AS')) throw unsupported('aliases (AS)');
    return ref;
  }

  private tableName(): string {
    const token = this.next();
    if (this.isPunct(token, '(')) {
      if (this.isWord(this.peek(), 'SELECT')) throw badRequest('subqueries are not supported');
      throw this.syntaxError(token);
    }
    if (token.kind === 'quoted') return token.text;
    if (token.kind === 'word' && !RESERVED.has(token.upper)) {
      if (
        this.isWord(this.peek(), 'JOIN') ||
        ['INNER', 'LEFT', 'RIGHT', 'FULL', 'CROSS'].includes(this.peekUpper())
      ) {
        throw badRequest('the JOIN keyword is not supported; write implicit joins in WHERE');
      }
      return token.text;
    }
    throw this.syntaxError(token);
  }

  private columnRef(): ColumnRef {
    const first = this.identifier();
    if (this.acceptPunct('.')) return { table: first, name: this.identifier() };
    return { name: first };
  }

  private identifier(): string {
    const token = this.next();
    if (token.kind === 'quoted') return token.text;
    if (token.kind === 'word' && !RESERVED.has(token.upper)) return token.text;
    throw this.syntaxError(token);
  }

  private count(clause: string): number {
    const operand = this.operand();
    const value = operand.kind === 'literal' ? operand.value : null;
    const n = typeof value === 'string' ? Number(value) : value;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0)
      throw badRequest(`${clause} must be a whole number`);
    return n;
  }

  // cond := and {OR and}; and := not {AND not}; not := NOT not | primary
  private condition(): Condition {
    let left = this.conjunction();
    while (this.acceptWord('OR')) left = { kind: 'or', left, right: this.conjunction() };
    return left;
  }

  private conjunction(): Condition {
    let left = this.negation();
    while (this.acceptWord('AND')) left = { kind: 'and', left, right: this.negation() };
    return left;
  }

  private negation(): Condition {
    if (this.acceptWord('NOT')) return { kind: 'not', inner: this.negation() };
    return this.predicate();
  }

  private predicate(): Condition {
    if (this.isPunct(this.peek(), '(')) {
      const after = this.tokens[this.at + 1];
      if (after && this.isWord(after, 'SELECT')) throw badRequest('subqueries are not supported');
      this.next();
      const inner = this.condition();
      this.expectPunct(')');
      return inner;
    }
    const operand = this.operand();
    if (this.isPunct(this.peek(), '(')) throw unsupported('functions in WHERE');
    const token = this.peek();
    if (token.kind === 'punct' && ['=', '!=', '<', '<=', '>', '>='].includes(token.text)) {
      this.next();
      const right = this.operand();
      if (
        this.isPunct(this.peek(), '+') ||
        this.isPunct(this.peek(), '-') ||
        this.isPunct(this.peek(), '/')
      ) {
        throw unsupported('arithmetic expressions');
      }
      return { kind: 'compare', op: token.text as '=', left: operand, right };
    }
    if (this.acceptWord('IS')) {
      if (this.acceptWord('EXACTLY'))
        return { kind: 'list', op: 'is exactly', negated: false, operand, values: this.list() };
      const negated = this.acceptWord('NOT');
      if (this.acceptWord('NULL')) return { kind: 'is', negated, operand, what: 'null' };
      if (this.acceptWord('TRUE')) return { kind: 'is', negated, operand, what: 'true' };
      if (this.isWord(this.peek(), 'FALSE')) throw unsupported('IS [NOT] FALSE (use IS [NOT] TRUE)');
      throw this.syntaxError(this.peek());
    }
    if (this.acceptWord('HAS')) {
      const which = this.next();
      const op =
        which.kind === 'word' && which.upper === 'ANY'
          ? 'has any of'
          : which.kind === 'word' && which.upper === 'ALL'
            ? 'has all of'
            : which.kind === 'word' && which.upper === 'NONE'
              ? 'has none of'
              : undefined;
      if (!op) throw this.syntaxError(which);
      this.expectWord('OF');
      return { kind: 'list', op, negated: false, operand, values: this.list() };
    }
    const negated = this.acceptWord('NOT');
    if (this.acceptWord('IN')) return { kind: 'list', op: 'in', negated, operand, values: this.list() };
    const likeToken = this.peek();
    if (this.isWord(likeToken, 'LIKE') || this.isWord(likeToken, 'ILIKE')) {
      this.next();
      const caseInsensitive = this.isWord(likeToken, 'ILIKE');
      return { kind: 'like', negated, caseInsensitive, operand, pattern: this.operand() };
    }
    if (this.acceptWord('BETWEEN')) {
      const low = this.operand();
      this.expectWord('AND');
      return { kind: 'between', negated, operand, low, high: this.operand() };
    }
    throw this.syntaxError(this.peek());
  }

  private list(): Operand[] {
    this.expectPunct('(');
    if (this.isWord(this.peek(), 'SELECT')) throw badRequest('subqueries are not supported');
    const values = [this.operand()];
    while (this.acceptPunct(',')) values.push(this.operand());
    this.expectPunct(')');
    return values;
  }

  private operand(): Operand {
    const token = this.next();
    switch (token.kind) {
      case 'string':
        return { kind: 'literal', value: token.text };
      case 'number':
        return { kind: 'literal', value: token.value };
      case 'param':
        return { kind: 'literal', value: this.parameter() };
      case 'punct':
        if (token.text === '-') {
          const num = this.next();
          if (num.kind === 'number') return { kind: 'literal', value: -num.value };
          throw this.syntaxError(num);
        }
        throw this.syntaxError(token);
      case 'quoted':
        this.at--;
        return { kind: 'column', ref: this.columnRef() };
      case 'word':
        if (token.upper === 'NULL') return { kind: 'literal', value: null };
        if (token.upper === 'TRUE') return { kind: 'literal', value: true };
        if (token.upper === 'FALSE') return { kind: 'literal', value: false };
        if (token.upper === 'CASE') throw badRequest('CASE is not supported');
        if (token.upper === 'SELECT') throw badRequest('subqueries are not supported');
        this.at--;
        return { kind: 'column', ref: this.columnRef() };
      default:
        throw this.syntaxError(token);
    }
  }

  private parameter(): Literal {
    if (this.nextParameter >= this.parameters.length) {
      throw badRequest(`sql has more placeholders than the ${this.parameters.length} parameter(s) given`);
    }
    const value = this.parameters[this.nextParameter++];
    if (
      value === null ||
      typeof value === 'string' ||
      typeof value === 'number' ||
      typeof value === 'boolean'
    ) {
      return value;
    }
    throw badRequest('parameters must be strings or numbers');
  }

  private peek(): Token {
    return this.tokens[this.at]!;
  }

  private peekUpper(): string {
    const token = this.peek();
    return token.kind === 'word' ? token.upper : '';
  }

  private next(): Token {
    const token = this.tokens[this.at]!;
    if (token.kind !== 'end') this.at++;
    return token;
  }

  private isWord(token: Token, upper: string): boolean {
    return token.kind === 'word' && token.upper === upper;
  }

  private isPunct(token: Token, text: string): boolean {
    return token.kind === 'punct' && token.text === text;
  }

  private acceptWord(upper: string): boolean {
    if (!this.isWord(this.peek(), upper)) return false;
    this.at++;
    return true;
  }

  private acceptPunct(text: string): boolean {
    if (!this.isPunct(this.peek(), text)) return false;
    this.at++;
    return true;
  }

  private expectWord(upper: string): void {
    if (!this.acceptWord(upper)) {
      if (upper === 'FROM' && this.isWord(this.peek(), 'JOIN'))
        throw badRequest('the JOIN keyword is not supported');
      throw this.syntaxError(this.peek());
    }
  }

  private expectPunct(text: string): void {
    if (!this.acceptPunct(text)) throw this.syntaxError(this.peek());
  }

  private syntaxError(token: Token): FakeApiError {
    if (token.kind === 'word' && token.upper === 'JOIN')
      return badRequest('the JOIN keyword is not supported');
    if (token.kind === 'word' && token.upper === 'UNION') return badRequest('UNION is not supported');
    if (token.kind === 'end') return badRequest('sql syntax error: unexpected end of statement');
    const text =
      token.kind === 'word' || token.kind === 'quoted' || token.kind === 'string' || token.kind === 'punct'
        ? token.text
        : token.kind === 'number'
          ? String(token.value)
          : '?';
    return badRequest(`sql syntax error at position ${token.pos} near '${text}'`);
  }
}

// ---------------------------------------------------------------- evaluation

type Kind = 'string' | 'number' | 'boolean' | 'date';

/** A value as WHERE sees it; `values` empty means NULL ("empty string, empty list … are NULL"). */
interface SqlCell {
  kind: Kind;
  values: Array<string | number | boolean>;
  list: boolean;
  /** True for constants, whose kind bends to the column they are compared with. */
  constant: boolean;
}

/** System columns every table has in SQL. */
const SYSTEM_COLUMNS: Record<string, Kind> = {
  _id: 'string',
  _ctime: 'date',
  _mtime: 'date',
  _creator: 'string',
  _last_modifier: 'string',
};

type ResolvedColumn = { system: string } | { column: FakeColumn };

/** Date constants: ISO (`2020-09-08 00:11:23`) or RFC 3339; a missing zone means UTC. */
function parseSqlDate(text: string): number {
  const trimmed = text.trim();
  const iso = trimmed.includes('T') ? trimmed : trimmed.replace(' ', 'T');
  const zoned = /(Z|[+-]\d\d:?\d\d)$/i.test(iso) || !iso.includes('T') ? iso : `${iso}Z`;
  return Date.parse(/^\d{4}-\d\d-\d\d$/.test(zoned) ? `${zoned}T00:00:00Z` : zoned);
}

function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace('.000Z', 'Z');
}

function coerce(value: Literal, kind: Kind): string | number | boolean | null {
  if (value === null || value === '') return null;
  switch (kind) {
    case 'string':
      return String(value);
    case 'number':
      return typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : Number.NaN;
    case 'boolean':
      if (typeof value === 'boolean') return value;
      if (value === 1 || value === 0) return value === 1;
      if (typeof value === 'string' && /^(true|false)$/i.test(value)) return value.toLowerCase() === 'true';
      return null;
    case 'date':
      return typeof value === 'string' ? parseSqlDate(value) : Number.NaN;
  }
}

function naturalKind(value: Literal): Kind {
  return typeof value === 'number' ? 'number' : typeof value === 'boolean' ? 'boolean' : 'string';
}

function compareScalars(a: string | number | boolean, b: string | number | boolean): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b);
  const x = String(a);
  const y = String(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

function likeRegExp(pattern: string, caseInsensitive: boolean): RegExp {
  let source = '';
  for (const ch of pattern) {
    if (ch === '%') source += '.*';
    else if (ch === '_') source += '.';
    else source += ch.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`, caseInsensitive ? 'is' : 's');
}

class Evaluator {
  constructor(
    private readonly base: FakeBase,
    private readonly table: FakeTable,
  ) {}

  resolve(ref: ColumnRef): ResolvedColumn {
    if (ref.table !== undefined && ref.table !== this.table.name) {
      throw badRequest(`no such table: ${ref.table}`);
    }
    const column = this.base.columnNamed(this.table, ref.name);
    if (column) return { column };
    if (ref.name in SYSTEM_COLUMNS) return { system: ref.name };
    throw badRequest(`no such column: ${ref.name}`);
  }

  /** The value WHERE and ORDER BY compare: select options by name, links by display value. */
  cell(row: FakeRow, resolved: ResolvedColumn): SqlCell {
    const cell = (kind: Kind, raw: unknown, list = false): SqlCell => {
      const items = (
        list ? (Array.isArray(raw) ? raw : []) : raw === null || raw === undefined ? [] : [raw]
      ) as Array<string | number | boolean>;
      return {
        kind,
        values: items.filter((v) => v !== '' && v !== null && v !== undefined),
        list,
        constant: false,
      };
    };
    if ('system' in resolved) {
      switch (resolved.system) {
        case '_id':
          return cell('string', row._id);
        case '_ctime':
          return cell('date', row.ctime);
        case '_mtime':
          return cell('date', row.mtime);
        default:
          return cell('string', resolved.system === '_creator' ? row.creator : row.lastModifier);
      }
    }
    const { column } = resolved;
    const json = this.base.cellJson(this.table, row, column);
    switch (column.type) {
      case 'number':
      case 'duration':
      case 'rate':
        return cell('number', json);
      case 'checkbox':
        return cell('boolean', json);
      case 'date':
        return cell('date', typeof json === 'string' ? parseSqlDate(json) : null);
      case 'ctime':
        return cell('date', row.ctime);
      case 'mtime':
        return cell('date', row.mtime);
      case 'multiple-select':
      case 'collaborator':
        return cell('string', json, true);
      case 'link':
        return cell(
          'string',
          (json as Array<{ display_value: string }>).map((l) => l.display_value),
          true,
        );
      case 'image':
      case 'file':
      case 'geolocation':
      case 'button':
      case 'digital-sign':
        throw badRequest(`column ${column.name} of type ${column.type} cannot be used in WHERE or ORDER BY`);
      case 'formula':
      case 'link-formula':
        if (Array.isArray(json)) return cell(naturalKind((json[0] ?? '') as Literal), json, true);
        return cell(naturalKind(json as Literal), json);
      default:
        return cell('string', json);
    }
  }

  private operandCell(row: FakeRow, operand: Operand): SqlCell {
    if (operand.kind === 'column') return this.cell(row, this.resolve(operand.ref));
    const value = operand.value;
    return {
      kind: naturalKind(value),
      values: value === null || value === '' ? [] : [value],
      list: false,
      constant: true,
    };
  }

  /** Brings a constant to the kind of the column it is compared with. */
  private align(cell: SqlCell, kind: Kind): SqlCell {
    if (!cell.constant || cell.kind === kind) return cell;
    const values = cell.values.map((v) => coerce(v as Literal, kind)).filter((v) => v !== null);
    return { ...cell, kind, values };
  }

  private pair(row: FakeRow, left: Operand, right: Operand): [SqlCell, SqlCell] {
    let a = this.operandCell(row, left);
    let b = this.operandCell(row, right);
    if (a.constant && !b.constant) a = this.align(a, b.kind);
    else if (b.constant && !a.constant) b = this.align(b, a.kind);
    return [a, b];
  }

  matches(row: FakeRow, condition: Condition): boolean {
    switch (condition.kind) {
      case 'and':
        return this.matches(row, condition.left) && this.matches(row, condition.right);
      case 'or':
        return this.matches(row, condition.left) || this.matches(row, condition.right);
      case 'not':
        return !this.matches(row, condition.inner);
      case 'compare': {
        const [a, b] = this.pair(row, condition.left, condition.right);
        // "!= … returns true for NULL"; every other comparison with NULL is false.
        if (a.values.length === 0 || b.values.length === 0) return condition.op === '!=';
        const x = a.values[0]!;
        const y = b.values[0]!;
        if (Number.isNaN(x) || Number.isNaN(y)) return condition.op === '!=';
        const order = compareScalars(x, y);
        switch (condition.op) {
          case '=':
            return order === 0;
          case '!=':
            return order !== 0;
          case '<':
            return order < 0;
          case '<=':
            return order <= 0;
          case '>':
            return order > 0;
          case '>=':
            return order >= 0;
        }
        return false;
      }
      case 'list': {
        const subject = this.operandCell(row, condition.operand);
        const wanted = condition.values.flatMap(
          (operand) => this.align(this.operandCell(row, operand), subject.kind).values,
        );
        const has = (v: string | number | boolean) => wanted.some((w) => compareScalars(v, w) === 0);
        let result: boolean;
        switch (condition.op) {
          case 'in':
            result = subject.values.some(has);
            break;
          case 'has any of':
            result = subject.values.some(has);
            break;
          case 'has all of':
            result = wanted.every((w) => subject.values.some((v) => compareScalars(v, w) === 0));
            break;
          case 'has none of':
            result = !subject.values.some(has);
            break;
          case 'is exactly':
            result =
              subject.values.every(has) &&
              wanted.every((w) => subject.values.some((v) => compareScalars(v, w) === 0));
            break;
        }
        return condition.negated ? !result : result;
      }
      case 'like': {
        const subject = this.operandCell(row, condition.operand);
        const pattern = this.operandCell(row, condition.pattern);
        if (subject.kind !== 'string' && !subject.constant) {
          throw badRequest('LIKE only supports strings');
        }
        // List cells use their first element, "empty string if no element".
        const text = subject.values.length > 0 ? String(subject.values[0]) : null;
        if (text === null || pattern.values.length === 0) return condition.negated;
        const found = likeRegExp(String(pattern.values[0]), condition.caseInsensitive).test(text);
        return condition.negated ? !found : found;
      }
      case 'between': {
        const [subject, low] = this.pair(row, condition.operand, condition.low);
        const high = this.align(this.operandCell(row, condition.high), subject.kind);
        if (subject.values.length === 0 || low.values.length === 0 || high.values.length === 0) {
          return condition.negated;
        }
        const v = subject.values[0]!;
        const inside = compareScalars(v, low.values[0]!) >= 0 && compareScalars(v, high.values[0]!) <= 0;
        return condition.negated ? !inside : inside;
      }
      case 'is': {
        const subject = this.operandCell(row, condition.operand);
        const holds = condition.what === 'null' ? subject.values.length === 0 : subject.values[0] === true;
        return condition.negated ? !holds : holds;
      }
    }
  }

  /** ORDER BY: NULL first ascending, single-select by option order, lists element by element. */
  compareRows(a: FakeRow, b: FakeRow, resolved: ResolvedColumn): number {
    const x = this.sortKey(a, resolved);
    const y = this.sortKey(b, resolved);
    for (let i = 0; i < Math.min(x.length, y.length); i++) {
      const order = compareScalars(x[i]!, y[i]!);
      if (order !== 0) return order;
    }
    return x.length - y.length;
  }

  private sortKey(row: FakeRow, resolved: ResolvedColumn): Array<string | number | boolean> {
    if ('column' in resolved && resolved.column.type === 'single-select') {
      const options = (resolved.column.data?.options ?? []) as Array<{ id: string }>;
      const index = options.findIndex((o) => o.id === row.cells.get(resolved.column.key));
      return index < 0 ? [] : [index];
    }
    const cell = this.cell(row, resolved);
    return cell.list ? [...cell.values].sort(compareScalars) : cell.values;
  }

  /** A result value (data-types.md "Query result format"). */
  output(row: FakeRow, resolved: ResolvedColumn, convertKeys: boolean): unknown {
    if ('system' in resolved) {
      const cell = this.cell(row, resolved);
      const value = cell.values[0];
      return cell.kind === 'date' ? rfc3339(value as number) : (value ?? null);
    }
    const { column } = resolved;
    switch (column.type) {
      case 'single-select': {
        const id = row.cells.get(column.key);
        return id === undefined ? null : convertKeys ? this.base.optionName(column, id) : id;
      }
      case 'multiple-select': {
        const ids = (row.cells.get(column.key) as string[] | undefined) ?? [];
        if (ids.length === 0) return null;
        return convertKeys ? ids.map((id) => this.base.optionName(column, id)) : [...ids];
      }
      case 'date':
      case 'ctime':
      case 'mtime': {
        const cell = this.cell(row, resolved);
        return cell.values.length > 0 && !Number.isNaN(cell.values[0])
          ? rfc3339(cell.values[0] as number)
          : null;
      }
      case 'link':
        return this.base.linkCell(this.table, row, column).slice(0, LINK_CELL_CAP);
      default: {
        const json = this.base.cellJson(this.table, row, column);
        return json === '' ? null : json;
      }
    }
  }
}

/**
 * Runs one statement. `canWrite` is the token's permission: UPDATE and DELETE with a read-only
 * token are refused like every other write.
 */
export function executeSql(
  base: FakeBase,
  sql: unknown,
  parameters: unknown,
  convertKeys: boolean,
  canWrite: boolean,
  forbidden: () => FakeApiError,
): SqlResponse {
  if (typeof sql !== 'string' || sql.trim() === '') throw badRequest('sql invalid');
  if (parameters !== undefined && parameters !== null && !Array.isArray(parameters)) {
    throw badRequest('parameters must be a list');
  }
  const statement = new Parser(tokenize(sql), (parameters as unknown[] | null | undefined) ?? []).parse();
  const table = base.tableNamed(statement.table);
  if (!table) throw badRequest(`no such table: ${statement.table}`);
  const evaluator = new Evaluator(base, table);
  const matching = (where: Condition | undefined) =>
    table.rows.filter((row) => !where || evaluator.matches(row, where));

  if (statement.kind === 'select') {
    const refs: ColumnRef[] =
      statement.columns === '*'
        ? [
            ...table.columns.map((c) => ({ name: c.name })),
            ...Object.keys(SYSTEM_COLUMNS).map((name) => ({ name })),
          ]
        : statement.columns;
    const selected = refs.map((ref) => evaluator.resolve(ref));
    if (!selected.some((r) => 'system' in r && r.system === '_id')) selected.push({ system: '_id' });
    const order = statement.orderBy.map((o) => ({ resolved: evaluator.resolve(o.ref), desc: o.desc }));
    const rows = matching(statement.where);
    if (order.length > 0) {
      rows.sort((a, b) => {
        for (const { resolved, desc } of order) {
          const result = evaluator.compareRows(a, b, resolved);
          if (result !== 0) return desc ? -result : result;
        }
        return 0;
      });
    }
    const offset = statement.offset ?? 0;
    const limit = Math.min(statement.limit ?? SQL_DEFAULT_LIMIT, SQL_MAX_LIMIT);
    const results = rows.slice(offset, offset + limit).map((row) => {
      const result: Record<string, unknown> = {};
      for (const resolved of selected) {
        const key =
          'system' in resolved ? resolved.system : convertKeys ? resolved.column.name : resolved.column.key;
        result[key] = evaluator.output(row, resolved, convertKeys);
      }
      return result;
    });
    const metadata = selected.flatMap((resolved) =>
      'column' in resolved
        ? [
            {
              key: resolved.column.key,
              name: resolved.column.name,
              type: resolved.column.type,
              data: resolved.column.data,
            },
          ]
        : [],
    );
    return { success: true, metadata, results };
  }

  if (!canWrite) throw forbidden();

  if (statement.kind === 'update') {
    const targets = statement.assignments.map(({ ref, value }) => {
      const resolved = evaluator.resolve(ref);
      if ('system' in resolved) throw badRequest(`column ${resolved.system} cannot be updated`);
      if (SQL_READ_ONLY_TYPES.has(resolved.column.type)) {
        throw badRequest(
          `column ${resolved.column.name} of type ${resolved.column.type} cannot be updated by SQL`,
        );
      }
      return { column: resolved.column, value };
    });
    // Check every value against its column first, so a bad one changes no row.
    const scratch: FakeRow = { _id: '', ctime: 0, mtime: 0, creator: '', lastModifier: '', cells: new Map() };
    for (const { column, value } of targets) {
      if (!base.writeCell(column, scratch, value)) {
        throw badRequest(
          `value ${JSON.stringify(value)} cannot be stored in column ${column.name} (${column.type})`,
        );
      }
    }
    for (const row of matching(statement.where)) {
      for (const { column, value } of targets) base.writeCell(column, row, value);
      base.touch(row);
    }
    return { success: true, metadata: null, results: null };
  }

  base.deleteRows(
    table,
    matching(statement.where).map((r) => r._id),
  );
  return { success: true, metadata: null, results: null };
}
