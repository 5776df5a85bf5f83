/**
 * The outbox's memory for what happens mid-delivery (the plan it started with, cancellations, group
 * moves, file ids, requeues), and the small Telegram-side stores: one contract, run on SQLite and on
 * PostgreSQL.
 */
import { describe, expect, it } from 'vitest';
import type { PlannedMessage } from '../../src/core/message-plan.js';
import { StoredAlertQueue } from '../../src/store/admin-alert-queue.js';
import { ChatLanguages } from '../../src/store/chat-languages.js';
import { GroupApprovals } from '../../src/store/group-approvals.js';
import { RefreshTokenStore } from '../../src/store/oauth2-refresh-tokens.js';
import { OutboxStore } from '../../src/store/outbox-store.js';
import type { SqlDatabase } from '../../src/store/sql-database.js';
import { type EngineUnderTest, forEachEngine } from './engines.js';

async function addReport(db: SqlDatabase): Promise<number> {
  const row = await db.get<{ id: number }>(
    `INSERT INTO reports (mailbox, raw_sha256, raw_size, subject, status, recorded_at)
     VALUES ('reports@example.com', 'abc', 1, 'Sales', 'forward', ?) RETURNING id`,
    [new Date().toISOString()],
  );
  return Number(row!.id);
}

async function addDelivery(
  db: SqlDatabase,
  reportId: number,
  chatId: number,
  state = 'pending',
  round = 0,
): Promise<number> {
  const row = await db.get<{ id: number }>(
    `INSERT INTO deliveries (report_id, chat_id, recipient_kind, recipient_key, recipient_name, language, media_mode, created_at, state, round)
     VALUES (?, ?, 'group', 'g1', 'Sales team', 'en', 'both', ?, ?, ?) RETURNING id`,
    [reportId, chatId, new Date().toISOString(), state, round],
  );
  return Number(row!.id);
}

async function outboxWithOneDelivery(
  engine: EngineUnderTest,
  chatId: number,
): Promise<{ outbox: OutboxStore; id: number; reportId: number }> {
  const db = engine.current();
  const reportId = await addReport(db);
  const id = await addDelivery(db, reportId, chatId);
  return { outbox: new OutboxStore(db), id, reportId };
}

forEachEngine('outbox store', (engine) => {
  it('keeps the plan given with the first of several messages, and only that one', async () => {
    const { outbox, id } = await outboxWithOneDelivery(engine, -100);
    expect((await outbox.delivery(id))?.plan).toBeNull();
    const plan: PlannedMessage[] = [
      { kind: 'single', item: { fileIndex: 0, as: 'photo' }, withCaption: true },
      { kind: 'single', item: { fileIndex: 0, as: 'document' }, withCaption: true },
    ];
    await outbox.stepSent(id, 1, false, [], plan);
    expect(await outbox.delivery(id)).toMatchObject({ stepsDone: 1, state: 'pending', plan });
    await outbox.stepSent(id, 2, true, []);
    expect(await outbox.delivery(id)).toMatchObject({ stepsDone: 2, state: 'sent', plan });
    // the same record again (a commit whose answer was lost, retried) changes nothing
    await outbox.stepSent(id, 2, true, []);
    expect(await outbox.delivery(id)).toMatchObject({ stepsDone: 2, state: 'sent' });
    expect((await outbox.delivery(id))?.finishedAt).not.toBeNull();
  });

  it('records a batch of sent messages and their file ids in one transaction, or none of it', async () => {
    const { outbox, id, reportId } = await outboxWithOneDelivery(engine, -100);
    const other = await addDelivery(engine.current(), reportId, -200);
    await outbox.stepsSent([
      { id, stepsDone: 1, finished: true, fileIds: [{ sha256: 'a', sentAs: 'photo', fileId: 'F1' }] },
      {
        id: other,
        stepsDone: 1,
        finished: false,
        fileIds: [{ sha256: 'a', sentAs: 'document', fileId: 'F2' }],
      },
    ]);
    expect(await outbox.delivery(id)).toMatchObject({ state: 'sent', stepsDone: 1 });
    expect(await outbox.delivery(other)).toMatchObject({ state: 'pending', stepsDone: 1 });
    expect(await outbox.fileId('a', 'photo')).toBe('F1');
    expect(await outbox.fileId('a', 'document')).toBe('F2');
    // a file id learnt again replaces the old one
    await outbox.stepsSent([
      { id: other, stepsDone: 2, finished: true, fileIds: [{ sha256: 'a', sentAs: 'photo', fileId: 'F3' }] },
    ]);
    expect(await outbox.fileId('a', 'photo')).toBe('F3');
    await outbox.forgetFileId('a', 'photo');
    expect(await outbox.fileId('a', 'photo')).toBeNull();

    // a failing statement inside the batch rolls the whole batch back
    const third = await addDelivery(engine.current(), reportId, -300);
    const db = engine.current();
    await expect(
      db.transaction(async () => {
        await outbox.stepsSent([{ id: third, stepsDone: 1, finished: true, fileIds: [] }]);
        await db.run('INSERT INTO no_such_table VALUES (1)');
      }),
    ).rejects.toThrow();
    expect(await outbox.delivery(third)).toMatchObject({ state: 'pending', stepsDone: 0 });
  });

  it('reschedules with or without counting an attempt, fails only a pending delivery, and counts states', async () => {
    const { outbox, id, reportId } = await outboxWithOneDelivery(engine, -100);
    await outbox.reschedule(id, 12_345, 'rate limited', false);
    expect(await outbox.delivery(id)).toMatchObject({
      nextAttemptAt: 12_345,
      attempts: 0,
      lastError: 'rate limited',
    });
    await outbox.reschedule(id, 23_456, 'timeout', true);
    expect(await outbox.delivery(id)).toMatchObject({ nextAttemptAt: 23_456, attempts: 1 });
    // a fraction (a rate limit's wait in fractional seconds) is rounded up, on both engines
    await outbox.reschedule(id, 23_456.4, 'rate limited', false);
    expect(await outbox.delivery(id)).toMatchObject({ nextAttemptAt: 23_457, attempts: 1 });
    const done = await addDelivery(engine.current(), reportId, -200);
    await outbox.markSent(done);
    await outbox.fail(done, 'too late');
    expect(await outbox.delivery(done)).toMatchObject({ state: 'sent' });
    await outbox.fail(id, 'gave up', 5);
    expect(await outbox.delivery(id)).toMatchObject({ state: 'failed', attempts: 5, lastError: 'gave up' });
    expect(await outbox.countByState()).toEqual({ pending: 0, sent: 1, failed: 1, cancelled: 0 });
  });

  it('cancels a pending delivery with the reason, and nothing that is already final', async () => {
    const { outbox, id } = await outboxWithOneDelivery(engine, -100);
    expect(await outbox.cancel(id, 'cancelled: the user was removed')).toBe(true);
    expect(await outbox.delivery(id)).toMatchObject({
      state: 'cancelled',
      lastError: 'cancelled: the user was removed',
    });
    expect(await outbox.cancel(id, 'again')).toBe(false);
    expect((await outbox.delivery(id))?.lastError).toBe('cancelled: the user was removed');
  });

  it('cancels every pending delivery of a chat and names them', async () => {
    const { outbox, id, reportId } = await outboxWithOneDelivery(engine, -100);
    const second = await addDelivery(engine.current(), reportId, -100, 'pending', 1);
    const sent = await addDelivery(engine.current(), reportId, -100, 'sent', 2);
    const elsewhere = await addDelivery(engine.current(), reportId, -200);
    expect((await outbox.cancelChat(-100, 'blocked')).sort((a, b) => a - b)).toEqual([id, second]);
    expect(await outbox.delivery(sent)).toMatchObject({ state: 'sent' });
    expect(await outbox.delivery(elsewhere)).toMatchObject({ state: 'pending' });
    expect(await outbox.hasPending(reportId, -100)).toBe(false);
    expect(await outbox.hasPending(reportId, -200)).toBe(true);
  });

  it('reads the pending deliveries, those after an id, and the highest id', async () => {
    const { outbox, id, reportId } = await outboxWithOneDelivery(engine, -100);
    const second = await addDelivery(engine.current(), reportId, -200);
    const third = await addDelivery(engine.current(), reportId, -300, 'sent');
    expect((await outbox.pending()).map((delivery) => delivery.id)).toEqual([id, second]);
    expect((await outbox.pendingAfter(0)).map((delivery) => delivery.id)).toEqual([id, second]);
    expect((await outbox.pendingAfter(id)).map((delivery) => delivery.id)).toEqual([second]);
    expect(await outbox.maxId()).toBe(third);
    expect((await outbox.forReport(reportId)).map((delivery) => delivery.id)).toEqual([id, second, third]);
  });

  it('queues a report again for a chat as a new round, with its new id', async () => {
    const { outbox, id, reportId } = await outboxWithOneDelivery(engine, -100);
    await outbox.markSent(id);
    const template = (await outbox.delivery(id))!;
    const again = await outbox.requeue(reportId, template);
    const third = await outbox.requeue(reportId, template);
    expect(again).toBeGreaterThan(id);
    expect(await outbox.delivery(again)).toMatchObject({
      state: 'pending',
      round: 1,
      chatId: -100,
      stepsDone: 0,
    });
    expect(await outbox.delivery(third)).toMatchObject({ round: 2 });
  });

  it('remembers where a group moved, for the directory check while the directory has the old id', async () => {
    const { outbox, id } = await outboxWithOneDelivery(engine, -100);
    expect(await outbox.migratedFrom(-1_000_000_000_100)).toBeUndefined();
    await outbox.moveChat(-100, -1_000_000_000_100);
    expect((await outbox.delivery(id))?.chatId).toBe(-1_000_000_000_100);
    expect(await outbox.migratedFrom(-1_000_000_000_100)).toBe(-100);
    // announced twice (in the old and in the new chat): the same
    await outbox.moveChat(-100, -1_000_000_000_100);
    expect(await outbox.migratedFrom(-1_000_000_000_100)).toBe(-100);
  });

  it('moves a pending delivery to the new chat unless the new chat has that report pending or sent', async () => {
    const { outbox, id, reportId } = await outboxWithOneDelivery(engine, -100);
    const db = engine.current();
    const newChat = -1_000_000_000_100;
    // a failed and a cancelled delivery of this report in the new chat: the report still has to go there
    await addDelivery(db, reportId, newChat, 'failed', 0);
    await addDelivery(db, reportId, newChat, 'cancelled', 1);
    await outbox.moveChat(-100, newChat);
    expect(await outbox.delivery(id)).toMatchObject({ state: 'pending', chatId: newChat, round: 2 });

    // a second pending delivery to another old chat, while the new chat has the report pending: cancelled
    const other = await addDelivery(db, reportId, -200, 'pending', 0);
    await outbox.moveChat(-200, newChat);
    expect(await outbox.delivery(other)).toMatchObject({ state: 'cancelled', chatId: -200 });
  });
});

forEachEngine('chat languages', (engine) => {
  it('remembers a chat language, and moves it with a group (the old chat’s wins)', async () => {
    const languages = new ChatLanguages(engine.current());
    expect(await languages.get(1)).toBe('ru');
    await languages.set(1, 'en');
    await languages.set(1, 'en');
    expect(await languages.get(1)).toBe('en');
    await languages.set(2, 'ru');
    await languages.move(1, 2);
    expect(await languages.get(2)).toBe('en');
    expect(await languages.get(1)).toBe('ru');
    // nothing to move: the new chat keeps its own
    await languages.move(3, 2);
    expect(await languages.get(2)).toBe('en');
  });
});

forEachEngine('group approvals', (engine) => {
  const request = (chatId: number, title: string) => ({
    chatId,
    title,
    chatType: 'supergroup',
    memberCount: 3,
    promotedBy: { id: 7, is_bot: false, first_name: 'Anna' },
    language: 'en' as const,
  });

  it('keeps one request per chat (a newer one replaces it with a new id), and follows a move', async () => {
    const approvals = new GroupApprovals(engine.current());
    const first = await approvals.add(request(-100, 'Sales'));
    expect(first).toMatchObject({ chatId: -100, title: 'Sales', adminMessageId: null });
    const second = await approvals.add(request(-100, 'Sales team'));
    expect(second.id).not.toBe(first.id);
    expect(await approvals.byId(first.id)).toBeUndefined();
    expect((await approvals.all()).map((one) => one.title)).toEqual(['Sales team']);
    await approvals.setAdminMessage(second.id, 42, 4242);
    expect(await approvals.forChat(-100)).toMatchObject({ adminChatId: 42, adminMessageId: 4242 });

    // the supergroup already had a request of its own: the moving one replaces it, keeping its id
    const there = await approvals.add(request(-1_000_000_000_100, 'Other'));
    await approvals.moveChat(-100, -1_000_000_000_100);
    expect(await approvals.byId(there.id)).toBeUndefined();
    expect(await approvals.forChat(-1_000_000_000_100)).toMatchObject({ id: second.id, title: 'Sales team' });
    expect(await approvals.remove(second.id)).toBe(true);
    expect(await approvals.remove(second.id)).toBe(false);
  });
});

forEachEngine('stored admin alert queue and refresh tokens', (engine) => {
  it('replaces the stored alert queue, and forgets it when empty', async () => {
    const queue = new StoredAlertQueue(engine.current());
    expect(await queue.load()).toEqual([]);
    await queue.save(['one', 'two']);
    await queue.save(['two', 'three']);
    expect(await queue.load()).toEqual(['two', 'three']);
    await queue.save([]);
    expect(await queue.load()).toEqual([]);
  });

  it('keeps one rotated refresh token per mailbox, used only with its seed', async () => {
    const tokens = new RefreshTokenStore(engine.current());
    await tokens.save('a@example.com', 'seed-1', 'token-1');
    await tokens.save('a@example.com', 'seed-1', 'token-2');
    expect(await tokens.current('a@example.com', 'seed-1')).toBe('token-2');
    expect(await tokens.current('a@example.com', 'seed-2')).toBeNull();
    expect(await tokens.all()).toEqual(['token-2']);
  });
});

describe('outbox store SQL', () => {
  it('speaks only the portable SQL of the seam (no INSERT OR, no lastInsertRowid)', async () => {
    const { readFileSync } = await import('node:fs');
    for (const file of [
      'outbox-store.ts',
      'chat-languages.ts',
      'group-approvals.ts',
      'admin-alert-queue.ts',
      'oauth2-refresh-tokens.ts',
    ]) {
      const source = readFileSync(new URL(`../../src/store/${file}`, import.meta.url), 'utf8');
      expect(source, file).not.toMatch(/INSERT OR|UPDATE OR|lastInsertRowid|\.prepare\(/);
    }
  });
});
