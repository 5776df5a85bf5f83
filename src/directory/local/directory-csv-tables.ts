/**
 * The columns of the embedded directory's CSV files (`mailbox|user|group import` and `export`), one
 * table per file, named as in the SeaTable schema (seatable-schema.ts), so a SeaTable export and a
 * local export are the same files. Table-driven: a column says how a cell is read (and what a blank
 * cell means), how an entry's value is written, and which field of the directory's add/edit input it
 * sets. To add a column: add it to DIRECTORY_SCHEMA (SeaTable), give NewMailbox/MailboxChanges (and so on) of local-directory.ts
 * the field, and add one entry to the table (here; the Mailboxes table is in mailbox-csv-table.ts)
 * with that `field`.
 *
 * Blank cells: a blank cell means the default (MEDIA_MODE, MARK_SEEN, INBOX, the port of the TLS mode,
 * Active = yes) except where {@link KEEP} says "keep what the directory has": Password (never exported
 * in clear) and Telegram ID (set by the bot when someone registers; an old file must not undo that).
 * A blank Host is a webhook-only mailbox (as in SeaTable): its IMAP columns must be blank too.
 */
import { normalizePhone } from '../../core/phone.js';
import type { GroupEntry, UserEntry } from '../directory.js';
import {
  activeColumn,
  CellError,
  type CsvColumn,
  type CsvTableSpec,
  formatYesNo,
  KEEP,
  mailboxesColumn,
  mediaModeColumn,
  SCIENTIFIC,
  tallImageModeColumn,
  telegramIdColumn,
  wholeNumber,
  withoutNulls,
  yesNo,
} from './csv-columns.js';
import type { NewGroup, NewUser } from './local-directory.js';
import { MAILBOX_CSV } from './mailbox-csv-table.js';

export {
  type CellContext,
  CellError,
  type CsvColumn,
  type CsvTableSpec,
  KEEP,
  type RowOrigin,
} from './csv-columns.js';
export { MAILBOX_CSV } from './mailbox-csv-table.js';

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
  async add(directory, fields) {
    const { active, ...rest } = fields;
    await directory.addUser(withoutNulls(rest) as unknown as NewUser);
    if (active === false) await directory.setUserPaused(fields.phone as string, true);
  },
  async edit(directory, entry, changed) {
    const { active, ...rest } = changed;
    // the phone identifies the row, so it never changes here
    if (Object.keys(rest).length > 0) await directory.editUser(entry.phone, rest);
    if (active !== undefined) await directory.setUserPaused(entry.phone, active === false);
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
  async add(directory, fields) {
    const { active, locked: _derived, ...rest } = fields;
    await directory.addGroup(withoutNulls(rest) as unknown as NewGroup);
    if (active === false) await directory.setGroupPaused(fields.title as string, true);
  },
  async edit(directory, entry, changed) {
    const { active, locked: _derived, ...rest } = changed;
    if (Object.keys(rest).length > 0) await directory.editGroup(entry.title, rest);
    if (active !== undefined) await directory.setGroupPaused(entry.title, active === false);
  },
  remove: (directory, entry) => directory.removeGroup(entry.title),
};

export const DIRECTORY_CSV = { mailbox: MAILBOX_CSV, user: USER_CSV, group: GROUP_CSV } as const;
