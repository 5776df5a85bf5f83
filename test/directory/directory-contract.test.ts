/**
 * One contract, two directories: the embedded SQLite directory and the SeaTable directory must
 * show the same snapshot for the same contents and answer registration writes the same way.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { recipientsFor } from '../../src/core/recipients.js';
import type { Directory, DirectorySnapshot, MailboxEntry } from '../../src/directory/directory.js';
import { forEachEngine } from '../store/engines.js';
import {
  type DirectoryImplementation,
  type DirectorySpec,
  type DirectoryWorld,
  localImplementationOn,
  type MailboxSpec,
  seaTableImplementation,
} from './directory-worlds.js';

const REPORTS: MailboxSpec = {
  email: 'Reports@Example.com',
  host: 'imap.example.com',
  port: 993,
  tls: 'tls',
  login: 'reports',
  password: 'reports-imap-pw',
  allowFrom: ['superset@bi.example.com', '@BI.example.com'],
  tallImageMode: 'tiles',
};
const SALES: MailboxSpec = {
  email: 'sales@example.com',
  host: 'mail.example.com',
  port: 143,
  tls: 'starttls',
  login: 'sales@example.com',
  passwordEnv: 'SALES_IMAP_PASSWORD',
};

const ANN_CHAT = 1001;
const CY_CHAT = 1003;
const OPS_CHAT = -100500;

function spec(): DirectorySpec {
  return {
    mailboxes: [REPORTS, SALES],
    users: [
      // three ways of writing a Russian number: one normal form
      { name: 'Ann', phone: '8 (999) 123-45-67', mailboxes: ['reports@example.com'], telegramId: ANN_CHAT },
      { name: 'Bob', phone: '+7 999 1234568', mailboxes: ['sales@example.com', 'REPORTS@example.com'] },
      { name: 'Cy', phone: '79991234569', mailboxes: ['sales@example.com'], telegramId: CY_CHAT },
    ],
    groups: [
      {
        title: 'Ops',
        mailboxes: ['reports@example.com'],
        telegramId: OPS_CHAT,
        topicId: 7,
        tallImageMode: 'document',
      },
      { title: 'Sales Team', mailboxes: ['sales@example.com'] },
    ],
  };
}

const ENV = { SALES_IMAP_PASSWORD: 'sales-from-env' };

/** The snapshot without what differs by nature between sources (keys, times). */
function comparable(snapshot: DirectorySnapshot) {
  return {
    mailboxes: snapshot.mailboxes.map(({ key: _key, addedAt: _added, ...mailbox }) => mailbox),
    users: snapshot.users.map(({ key: _key, ...user }) => user),
    groups: snapshot.groups.map(({ key: _key, ...group }) => group),
  };
}

function user(directory: Directory, name: string) {
  const found = directory.snapshot().users.find((entry) => entry.name === name);
  if (!found) throw new Error(`no user ${name}`);
  return found;
}

function group(directory: Directory, title: string) {
  const found = directory.snapshot().groups.find((entry) => entry.title === title);
  if (!found) throw new Error(`no group ${title}`);
  return found;
}

function contract(implementation: DirectoryImplementation): void {
  let world: DirectoryWorld | null = null;

  afterEach(async () => {
    await world?.close();
    world = null;
  });

  async function build(): Promise<DirectoryWorld> {
    world = await implementation.build(spec(), { env: ENV });
    return world;
  }

  it('shows the directory: mailboxes, users with E.164 phones, groups, subscriptions', async () => {
    const { directory } = await build();
    expect(directory.kind).toBe(implementation.name);
    expect(comparable(directory.snapshot())).toEqual({
      mailboxes: [
        {
          email: 'reports@example.com',
          host: 'imap.example.com',
          port: 993,
          tls: 'tls',
          login: 'reports',
          password: 'reports-imap-pw',
          passwordSource: 'directory',
          folder: 'INBOX',
          allowFrom: ['superset@bi.example.com', '@bi.example.com'],
          mediaMode: null,
          tallImageMode: 'tiles',
          markSeen: null,
          senderAuth: null,
          active: true,
        },
        {
          email: 'sales@example.com',
          host: 'mail.example.com',
          port: 143,
          tls: 'starttls',
          login: 'sales@example.com',
          password: 'sales-from-env',
          passwordSource: 'env:SALES_IMAP_PASSWORD',
          folder: 'INBOX',
          allowFrom: [],
          mediaMode: null,
          markSeen: null,
          senderAuth: null,
          active: true,
        },
      ],
      users: [
        {
          name: 'Ann',
          phone: '+79991234567',
          telegramId: ANN_CHAT,
          mailboxes: ['reports@example.com'],
          active: true,
        },
        {
          name: 'Bob',
          phone: '+79991234568',
          telegramId: null,
          mailboxes: ['reports@example.com', 'sales@example.com'],
          active: true,
        },
        {
          name: 'Cy',
          phone: '+79991234569',
          telegramId: CY_CHAT,
          mailboxes: ['sales@example.com'],
          active: true,
        },
      ],
      groups: [
        {
          title: 'Ops',
          telegramId: OPS_CHAT,
          locked: true,
          topicId: 7,
          mediaMode: null,
          tallImageMode: 'document',
          mailboxes: ['reports@example.com'],
          active: true,
        },
        {
          title: 'Sales Team',
          telegramId: null,
          locked: false,
          topicId: null,
          mediaMode: null,
          mailboxes: ['sales@example.com'],
          active: true,
        },
      ],
    });
    for (const mailbox of directory.snapshot().mailboxes) {
      expect(Number.isNaN(Date.parse(mailbox.addedAt))).toBe(false);
    }
    const reports = directory.snapshot().mailboxes[0] as MailboxEntry;
    expect(
      recipientsFor(reports, directory.snapshot(), 'photo').map((r) => [r.kind, r.chatId, r.threadId]),
    ).toEqual([
      ['user', ANN_CHAT, null],
      ['group', OPS_CHAT, 7],
    ]);
  });

  it('registers a group by title: registered, then already registered, locked against other chats', async () => {
    const { directory, reopen } = await build();
    const changes: DirectorySnapshot[] = [];
    directory.onChange((snapshot) => changes.push(snapshot));

    expect(await directory.claimGroup('Nobody', -1)).toEqual({ outcome: 'unknown-title' });
    // exact title: trimmed, but case counts
    expect(await directory.claimGroup('sales team', -100777)).toEqual({ outcome: 'unknown-title' });

    const first = await directory.claimGroup('  Sales Team ', -100777);
    expect(first.outcome).toBe('registered');
    expect(first.outcome !== 'unknown-title' && first.group).toMatchObject({
      title: 'Sales Team',
      telegramId: -100777,
      locked: true,
      active: true,
    });
    expect(group(directory, 'Sales Team')).toMatchObject({ telegramId: -100777, locked: true });
    expect(changes.length).toBeGreaterThanOrEqual(1);

    expect((await directory.claimGroup('Sales Team', -100777)).outcome).toBe('already-registered');

    const stolen = await directory.claimGroup('Sales Team', -100888);
    expect(stolen.outcome).toBe('locked-to-another-chat');
    expect(stolen.outcome !== 'unknown-title' && stolen.group.telegramId).toBe(-100777);
    expect(group(directory, 'Sales Team').telegramId).toBe(-100777);
    expect((await directory.claimGroup('Ops', -100888)).outcome).toBe('locked-to-another-chat');

    const again = await reopen();
    expect(group(again, 'Sales Team')).toMatchObject({ telegramId: -100777, locked: true, active: true });
    expect(group(again, 'Ops').telegramId).toBe(OPS_CHAT);
  });

  it('moves a group to its supergroup id and keeps the lock', async () => {
    const { directory, reopen } = await build();
    await directory.moveGroupChat(OPS_CHAT, -1009990001);
    expect(group(directory, 'Ops')).toMatchObject({ telegramId: -1009990001, locked: true, active: true });
    // the old id is just another chat now
    expect((await directory.claimGroup('Ops', OPS_CHAT)).outcome).toBe('locked-to-another-chat');
    expect((await directory.claimGroup('Ops', -1009990001)).outcome).toBe('already-registered');
    expect(group(await reopen(), 'Ops')).toMatchObject({ telegramId: -1009990001, locked: true });
  });

  it('gives a Telegram account to the latest verified owner only', async () => {
    const { directory, reopen } = await build();
    const bob = user(directory, 'Bob');
    await directory.setUserTelegramId(bob.key, ANN_CHAT);
    expect(user(directory, 'Bob')).toMatchObject({ telegramId: ANN_CHAT, active: true });
    expect(user(directory, 'Ann').telegramId).toBeNull();
    expect(user(directory, 'Cy').telegramId).toBe(CY_CHAT);
    const again = await reopen();
    expect(user(again, 'Bob').telegramId).toBe(ANN_CHAT);
    expect(user(again, 'Ann').telegramId).toBeNull();
  });

  it('marks users inactive and active again, and deactivates a chat that is gone', async () => {
    const { directory, reopen } = await build();
    await directory.setUserActive(user(directory, 'Cy').key, false);
    expect(user(directory, 'Cy')).toMatchObject({ active: false, pausedByAdmin: true });
    await directory.setUserActive(user(directory, 'Cy').key, true);
    expect(user(directory, 'Cy').active).toBe(true);
    expect(user(directory, 'Cy').pausedByAdmin).toBeUndefined();

    await directory.deactivateChat(ANN_CHAT, 'blocked');
    await directory.deactivateChat(OPS_CHAT, 'removed');
    await directory.deactivateChat(424242); // nobody: nothing happens
    expect(user(directory, 'Ann')).toMatchObject({ active: false, chatGone: { reason: 'blocked' } });
    // what the bot saw is not the admin's decision
    expect(user(directory, 'Ann').pausedByAdmin).toBeUndefined();
    expect(group(directory, 'Ops')).toMatchObject({ active: false, chatGone: { reason: 'removed' } });
    expect(user(directory, 'Cy').active).toBe(true);
    const reports = directory.snapshot().mailboxes[0]!;
    expect(recipientsFor(reports, directory.snapshot(), 'photo')).toEqual([]);

    const again = await reopen();
    expect(user(again, 'Ann')).toMatchObject({ active: false, chatGone: { reason: 'blocked' } });
    expect(group(again, 'Ops').active).toBe(false);
    // the bot made admin in the group again: registration lifts what the bot saw, lock kept
    expect((await directory.claimGroup('Ops', OPS_CHAT)).outcome).toBe('already-registered');
    expect(group(directory, 'Ops')).toMatchObject({ active: true, locked: true });
    expect(group(directory, 'Ops').chatGone).toBeUndefined();
    // the user shared their phone again: the same
    await directory.setUserTelegramId(user(directory, 'Ann').key, ANN_CHAT);
    expect(user(directory, 'Ann').active).toBe(true);
  });

  it('keeps the admin’s pause through a new registration and a removal', async () => {
    const { directory, reopen } = await build();
    const cy = user(directory, 'Cy');
    await directory.setUserActive(cy.key, false);
    await directory.deactivateChat(CY_CHAT, 'blocked');
    expect(user(directory, 'Cy')).toMatchObject({
      active: false,
      pausedByAdmin: true,
      chatGone: { reason: 'blocked' },
    });
    // linking the account again lifts the block the bot saw, never the admin's pause
    await directory.setUserTelegramId(cy.key, CY_CHAT);
    expect(user(directory, 'Cy')).toMatchObject({ active: false, pausedByAdmin: true });
    expect(user(directory, 'Cy').chatGone).toBeUndefined();
    expect(user(await reopen(), 'Cy')).toMatchObject({ active: false, pausedByAdmin: true });
    // a claim of a group never switches it on either: Active is the admin's alone
    const claim = await directory.claimGroup('Sales Team', -100777);
    expect(claim.outcome).toBe('registered');
    expect(group(directory, 'Sales Team')).toMatchObject({ telegramId: -100777, active: true });
  });

  it('shows a write in the copy when the call returns, and in the source once writes are settled', async () => {
    const { directory, reopen } = await build();
    const changes: DirectorySnapshot[] = [];
    directory.onChange((snapshot) => changes.push(snapshot));
    const bob = user(directory, 'Bob');
    await directory.setUserTelegramId(bob.key, 5005);
    // intake reads the copy: the next report goes to the new chat
    expect(user(directory, 'Bob')).toMatchObject({ telegramId: 5005, active: true });
    expect(changes.at(-1)?.users.find((entry) => entry.key === bob.key)?.telegramId).toBe(5005);
    const reports = directory.snapshot().mailboxes[0] as MailboxEntry;
    expect(recipientsFor(reports, directory.snapshot(), 'photo').map((r) => r.chatId)).toContain(5005);
    expect((await directory.claimGroup('Sales Team', -100321)).outcome).toBe('registered');
    expect(group(directory, 'Sales Team')).toMatchObject({ telegramId: -100321, locked: true });

    await directory.writesSettled();
    const again = await reopen();
    expect(user(again, 'Bob').telegramId).toBe(5005);
    expect(group(again, 'Sales Team')).toMatchObject({ telegramId: -100321, locked: true });
  });

  it('re-reads the source when a lookup finds nothing, and never refuses a write afterwards', async () => {
    const { directory, addMailboxInSource } = await build();
    const rejections: unknown[] = [];
    const unsubscribe = directory.onWriteRejected((rejection) => rejections.push(rejection));
    await addMailboxInSource({
      email: 'late@example.com',
      host: 'imap.example.com',
      port: 993,
      tls: 'tls',
      login: 'late',
      password: 'late-pw',
    });
    await directory.refreshAfterMiss();
    expect(directory.snapshot().mailboxes.map((mailbox) => mailbox.email)).toContain('late@example.com');
    await directory.claimGroup('Sales Team', -100555);
    await directory.writesSettled();
    expect(rejections).toEqual([]);
    unsubscribe();
  });

  it('tells listeners about a change once, and not when nothing changed', async () => {
    const { directory, addMailboxInSource } = await build();
    const changes: DirectorySnapshot[] = [];
    directory.onChange((snapshot) => changes.push(snapshot));
    await directory.refresh();
    expect(changes).toHaveLength(0);
    await addMailboxInSource({
      email: 'new@example.com',
      host: 'imap.example.com',
      port: 993,
      tls: 'tls',
      login: 'new',
      password: 'new-pw',
    });
    await directory.refresh();
    await directory.refresh();
    expect(changes).toHaveLength(1);
    expect(changes[0]!.mailboxes.map((mailbox) => mailbox.email)).toContain('new@example.com');
    expect(directory.snapshot().mailboxes.map((mailbox) => mailbox.email)).toContain('new@example.com');
  });
}

// the embedded directory on both engines: the bot, and the CLI's edits, on SQLite and on PostgreSQL
forEachEngine('local directory (contract)', (engine) => contract(localImplementationOn(engine)));
describe('seatable directory (contract)', () => contract(seaTableImplementation));
