/** The outbox's memory for what happens mid-delivery: the plan it started with, cancellations, group moves. */
import { afterEach, describe, expect, it } from 'vitest';
import type { PlannedMessage } from '../../src/core/message-plan.js';
import { type Database, openDatabase } from '../../src/store/database.js';
import { OutboxStore } from '../../src/store/outbox-store.js';
import { removeDir, tempDataDir } from '../support/bot-harness.js';

let db: Database | null = null;
let dataDir = '';

afterEach(() => {
  db?.close();
  db = null;
  removeDir(dataDir);
});

function outboxWithOneDelivery(chatId: number): { outbox: OutboxStore; id: number } {
  dataDir = tempDataDir();
  db = openDatabase(dataDir);
  const now = new Date().toISOString();
  const report = db
    .prepare(
      `INSERT INTO reports (mailbox, raw_sha256, raw_size, subject, status, recorded_at)
       VALUES ('reports@example.com', 'abc', 1, 'Sales', 'forward', ?)`,
    )
    .run(now).lastInsertRowid;
  const id = db
    .prepare(
      `INSERT INTO deliveries (report_id, chat_id, recipient_kind, recipient_key, media_mode, created_at)
       VALUES (?, ?, 'group', 'g1', 'both', ?)`,
    )
    .run(report, chatId, now).lastInsertRowid;
  return { outbox: new OutboxStore(db), id: Number(id) };
}

describe('outbox store', () => {
  it('keeps the plan given with the first of several messages, and only that one', () => {
    const { outbox, id } = outboxWithOneDelivery(-100);
    expect(outbox.delivery(id)?.plan).toBeNull();
    const plan: PlannedMessage[] = [
      { kind: 'single', item: { fileIndex: 0, as: 'photo' }, withCaption: true },
      { kind: 'single', item: { fileIndex: 0, as: 'document' }, withCaption: true },
    ];
    outbox.stepSent(id, false, [], plan);
    outbox.stepSent(id, true, []);
    expect(outbox.delivery(id)).toMatchObject({ stepsDone: 2, state: 'sent', plan });
  });

  it('cancels a pending delivery with the reason, and nothing that is already final', () => {
    const { outbox, id } = outboxWithOneDelivery(-100);
    expect(outbox.cancel(id, 'cancelled: the user was removed')).toBe(true);
    expect(outbox.delivery(id)).toMatchObject({
      state: 'cancelled',
      lastError: 'cancelled: the user was removed',
    });
    expect(outbox.cancel(id, 'again')).toBe(false);
    expect(outbox.delivery(id)?.lastError).toBe('cancelled: the user was removed');
  });

  it('remembers where a group moved, for the directory check while the directory has the old id', () => {
    const { outbox, id } = outboxWithOneDelivery(-100);
    expect(outbox.migratedFrom(-1_000_000_000_100)).toBeUndefined();
    outbox.moveChat(-100, -1_000_000_000_100);
    expect(outbox.delivery(id)?.chatId).toBe(-1_000_000_000_100);
    expect(outbox.migratedFrom(-1_000_000_000_100)).toBe(-100);
  });

  it('moves a pending delivery to the new chat unless the new chat has that report pending or sent', () => {
    const { outbox, id } = outboxWithOneDelivery(-100);
    const database = db!;
    const newChat = -1_000_000_000_100;
    const reportId = outbox.delivery(id)!.reportId;
    const addDelivery = (chatId: number, state: string, round: number) =>
      Number(
        database
          .prepare(
            `INSERT INTO deliveries (report_id, chat_id, recipient_kind, recipient_key, media_mode, created_at, state, round)
             VALUES (?, ?, 'group', 'g1', 'both', ?, ?, ?)`,
          )
          .run(reportId, chatId, new Date().toISOString(), state, round).lastInsertRowid,
      );
    // a failed and a cancelled delivery of this report in the new chat: the report still has to go there
    addDelivery(newChat, 'failed', 0);
    addDelivery(newChat, 'cancelled', 1);
    outbox.moveChat(-100, newChat);
    expect(outbox.delivery(id)).toMatchObject({ state: 'pending', chatId: newChat });

    // a second pending delivery to another old chat, while the new chat has the report pending: cancelled
    const other = addDelivery(-200, 'pending', 0);
    outbox.moveChat(-200, newChat);
    expect(outbox.delivery(other)).toMatchObject({ state: 'cancelled', chatId: -200 });
  });
});
