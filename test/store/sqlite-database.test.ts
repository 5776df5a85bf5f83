import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/store/database.js';
import { SqliteDatabase } from '../../src/store/sqlite-database.js';

describe('SqliteDatabase', () => {
  let dir: string;
  let db: SqliteDatabase;
  beforeEach(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'stb-sqlite-engine-'));
    db = new SqliteDatabase(openDatabase(dir));
    await db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)');
  });
  afterEach(async () => {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps statements of other call chains out of an open transaction', async () => {
    let inside!: () => void;
    const entered = new Promise<void>((resolve) => {
      inside = resolve;
    });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const failing = db.transaction(async () => {
      await db.run('INSERT INTO t (v) VALUES (?)', ['in the transaction']);
      inside();
      await gate;
      throw new Error('rolled back');
    });
    await entered;
    const outside = db.run('INSERT INTO t (v) VALUES (?)', ['outside']);
    release();
    await expect(failing).rejects.toThrow('rolled back');
    await outside;
    expect(await db.all<{ v: string }>('SELECT v FROM t')).toEqual([{ v: 'outside' }]);
  });

  it('makes a nested transaction a savepoint', async () => {
    await db.transaction(async () => {
      await db.run('INSERT INTO t (v) VALUES (?)', ['kept']);
      await expect(
        db.transaction(async () => {
          await db.run('INSERT INTO t (v) VALUES (?)', ['undone']);
          throw new Error('inner');
        }),
      ).rejects.toThrow('inner');
    });
    expect(await db.all<{ v: string }>('SELECT v FROM t')).toEqual([{ v: 'kept' }]);
  });

  it('returns new ids with RETURNING and counts changes', async () => {
    const row = await db.get<{ id: number }>('INSERT INTO t (v) VALUES (?) RETURNING id', ['a']);
    expect(row?.id).toBe(1);
    expect((await db.run('UPDATE t SET v = ? WHERE id = ?', ['b', 1])).changes).toBe(1);
    expect((await db.run('UPDATE t SET v = ? WHERE id = ?', ['b', 2])).changes).toBe(0);
  });
});
