/**
 * Carries one directory change (directory-writes.ts) to SeaTable: checked row updates for users,
 * and for a group's lock the conditional SQL UPDATE read back afterwards, so two chats racing for
 * one title cannot both win and a lock is never overwritten. Throws when SeaTable cannot be
 * reached or refuses; the queue decides whether to try again.
 */
import type { DirectorySnapshot, GroupEntry, UserEntry } from '../directory.js';
import type { DirectoryWrite } from './directory-writes.js';
import type { SeaTableClient } from './seatable-client.js';
import type { SeaTableMetadata, SeaTableRow, SeaTableSqlParameter } from './seatable-model.js';
import { parseTelegramIdCell } from './seatable-rows.js';
import type { DirectoryColumns, ResolvedSchema, SeaTableNames } from './seatable-schema.js';

/** What the writer needs from the directory it writes for. */
export interface SeaTableWriterContext {
  client: SeaTableClient;
  names: SeaTableNames;
  /** The resolved schema (read from metadata when the directory has none yet). */
  schema(): Promise<ResolvedSchema>;
  /** The metadata of the last read, so checked updates need not fetch it again. */
  metadata(): SeaTableMetadata | null;
  /** The copy in memory. */
  snapshot(): DirectorySnapshot;
}

export type WriteOutcome =
  /** SeaTable has the change. For a group claim, `group` is the row as SeaTable has it now. */
  | { outcome: 'landed'; group?: GroupEntry }
  /** A group claim SeaTable refused: the row is locked to another chat (`group`), or gone (null). */
  | { outcome: 'rejected'; group: GroupEntry | null };

export function quoted(name: string): string {
  if (name.includes('`'))
    throw new Error(`SeaTable name "${name}" contains a backtick, which SQL cannot quote`);
  return `\`${name}\``;
}

/** A row id as SeaTable makes them; anything else never reaches an SQL text. */
function checkedRowId(rowId: string): string {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(rowId)) throw new Error(`"${rowId}" is not a SeaTable row id`);
  return rowId;
}

export function lockedToAnother(group: GroupEntry, chatId: number): boolean {
  return group.locked && group.telegramId !== null && group.telegramId !== chatId;
}

export class SeaTableWriter {
  constructor(private readonly context: SeaTableWriterContext) {}

  async apply(write: DirectoryWrite): Promise<WriteOutcome> {
    switch (write.kind) {
      case 'user-telegram-id':
        await this.setUserTelegramId(write.userKey, write.telegramId);
        return { outcome: 'landed' };
      case 'user-active':
        await this.updateRows('Users', [write.userKey], { Active: write.active });
        return { outcome: 'landed' };
      case 'claim-group':
        return this.claimGroup(write.groupKey, write.chatId);
      case 'move-group-chat': {
        const schema = await this.context.schema();
        const rows = await this.rowsWithTelegramId('Groups', write.oldChatId);
        const value = this.telegramIdValue(schema, 'Groups', write.newChatId);
        await this.updateRows('Groups', rows, { 'Telegram ID': value });
        return { outcome: 'landed' };
      }
    }
  }

  private async setUserTelegramId(userKey: string, telegramId: number | null): Promise<void> {
    const schema = await this.context.schema();
    const column = this.columnName('Users', 'Telegram ID');
    // the latest verified owner of a Telegram account wins: no other user keeps this id
    const others =
      telegramId === null
        ? []
        : (await this.rowsWithTelegramId('Users', telegramId)).filter((rowId) => rowId !== userKey);
    await this.context.client.updateRowsChecked(
      this.context.names.tables.Users,
      [
        ...others.map((rowId) => ({ rowId, row: { [column]: null } })),
        {
          rowId: userKey,
          // Active is the admin's decision: registration never ticks it
          row: { [column]: this.telegramIdValue(schema, 'Users', telegramId) },
        },
      ],
      { metadata: this.context.metadata() ?? undefined },
    );
  }

  /**
   * The conditional write of a group's lock, read back: it lands only on an unlocked row or one
   * locked to this chat, so two chats racing for one title cannot both win.
   */
  private async claimGroup(groupKey: string, chatId: number): Promise<WriteOutcome> {
    const schema = await this.context.schema();
    const known = this.context.snapshot().groups.find((group) => group.key === groupKey);
    // a row the copy no longer shows is still looked up: SeaTable decides
    const subject: GroupEntry = known ?? {
      key: groupKey,
      title: '',
      telegramId: null,
      locked: false,
      topicId: null,
      mediaMode: null,
      mailboxes: [],
      active: false,
    };
    // no read first: the condition does the check, and each call counts against the base's limits
    const table = quoted(this.context.names.tables.Groups);
    const id = quoted(this.columnName('Groups', 'Telegram ID'));
    const locked = quoted(this.columnName('Groups', 'Locked'));
    // Active is the admin's decision: registration never ticks it
    // constants only (parameters in UPDATE are not documented): an integer and a checked row id
    const idLiteral = this.telegramIdType(schema, 'Groups') === 'number' ? String(chatId) : `'${chatId}'`;
    await this.context.client.sql(
      `UPDATE ${table} SET ${id} = ${idLiteral}, ${locked} = true WHERE _id = '${checkedRowId(groupKey)}' AND (${locked} IS NOT TRUE OR ${id} IS NULL OR ${id} = ${idLiteral})`,
    );
    const [after] = await this.readGroupState([subject]);
    if (!after) return { outcome: 'rejected', group: null };
    if (after.locked && after.telegramId === chatId) return { outcome: 'landed', group: after };
    return { outcome: 'rejected', group: after };
  }

  private async updateRows(
    table: 'Users' | 'Groups',
    rowIds: readonly string[],
    values: Partial<Record<'Telegram ID' | 'Active', unknown>>,
  ): Promise<void> {
    if (rowIds.length === 0) return;
    const row = Object.fromEntries(
      Object.entries(values).map(([column, value]) => [
        this.columnName(table, column as DirectoryColumns[typeof table]),
        value,
      ]),
    );
    await this.context.client.updateRowsChecked(
      this.context.names.tables[table],
      rowIds.map((rowId) => ({ rowId, row })),
      { metadata: this.context.metadata() ?? undefined },
    );
  }

  private columnName<T extends 'Users' | 'Groups'>(table: T, column: DirectoryColumns[T]): string {
    return (this.context.names.columns[table] as Record<string, string>)[column]!;
  }

  private telegramIdType(schema: ResolvedSchema, table: 'Users' | 'Groups'): string | undefined {
    return schema.columns[table]['Telegram ID']?.type;
  }

  /** Telegram ids are written as text (exact, research §5), or as a number into a number column. */
  private telegramIdValue(schema: ResolvedSchema, table: 'Users' | 'Groups', id: number | null): unknown {
    if (id === null) return null;
    return this.telegramIdType(schema, table) === 'number' ? id : String(id);
  }

  /** Row ids whose Telegram ID is `id`: from SeaTable now, plus the copy in memory. */
  private async rowsWithTelegramId(table: 'Users' | 'Groups', id: number): Promise<string[]> {
    const schema = await this.context.schema();
    const parameter: SeaTableSqlParameter = this.telegramIdType(schema, table) === 'number' ? id : String(id);
    const { results } = await this.context.client.sql(
      `SELECT _id FROM ${quoted(this.context.names.tables[table])} WHERE ${quoted(this.columnName(table, 'Telegram ID'))} = ? LIMIT 10000`,
      [parameter],
    );
    const snapshot = this.context.snapshot();
    const entries: Array<UserEntry | GroupEntry> = table === 'Users' ? snapshot.users : snapshot.groups;
    return [
      ...new Set([
        ...results.map((row) => row._id),
        ...entries.filter((entry) => entry.telegramId === id).map((entry) => entry.key),
      ]),
    ];
  }

  /** The groups as SeaTable has them now (id, lock, active), other fields from the copy in memory. */
  async readGroupState(groups: GroupEntry[]): Promise<GroupEntry[]> {
    const ids = groups.map((group) => checkedRowId(group.key));
    const id = this.columnName('Groups', 'Telegram ID');
    const locked = this.columnName('Groups', 'Locked');
    const active = this.columnName('Groups', 'Active');
    const { results } = await this.context.client.sql(
      `SELECT _id, ${quoted(id)}, ${quoted(locked)}, ${quoted(active)} FROM ${quoted(this.context.names.tables.Groups)} WHERE _id IN (${ids.map(() => '?').join(', ')}) LIMIT ${ids.length}`,
      ids,
    );
    const byId = new Map<string, SeaTableRow>(results.map((row) => [row._id, row]));
    return groups.flatMap((group) => {
      const row = byId.get(group.key);
      if (!row) return [];
      return [
        {
          ...group,
          telegramId: parseTelegramIdCell(row[id]),
          locked: row[locked] === true,
          active: row[active] === true,
        },
      ];
    });
  }
}
