/**
 * `migrate` and `migrate-state` through the built CLI (`npm run build` first) against a real PostgreSQL
 * (a throwaway cluster) and real SQLite files: the version printed, the copy per table and its summary,
 * the password never printed, a run killed with SIGKILL mid-copy then completed, a refusal's exit code.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { InstanceLock } from '../../src/store/instance-lock.js';
import { openPostgresDatabase } from '../../src/store/postgres-schema.js';
import { createSqliteInstallation, expectSameRows, prepareSchema } from '../store/sqlite-installation.js';
import { CLI, runCli } from '../support/bot-process.js';
import { PostgresCluster } from '../support/postgres-cluster.js';

let cluster: PostgresCluster;
let url: string;
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  cluster = await PostgresCluster.start();
  url = await cluster.createDatabase();
}, 120_000);

afterAll(async () => {
  await cluster?.destroy();
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function installation(deliveries = 0): string {
  const { dataDir } = createSqliteInstallation({ deliveries });
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  return dataDir;
}

async function rowCount(schema: string, table: string): Promise<number> {
  const db = await openPostgresDatabase({ url, schema });
  try {
    return Number((await db.get<{ n: number }>(`SELECT count(*) AS n FROM "${table}"`))?.n);
  } finally {
    await db.close();
  }
}

function expectNoPassword(output: { stdout: string; stderr: string }): void {
  expect(output.stdout + output.stderr).not.toContain(cluster.password);
}

describe('migrate', () => {
  it('applies the PostgreSQL schema on an empty database and prints its version', async () => {
    const env = { DATA_DIR: tempDir('cli-migrate-'), DATABASE_URL: url, DATABASE_SCHEMA: 'cli_migrate' };
    const first = await runCli(['migrate'], env);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout.trim()).toBe(
      `PostgreSQL 127.0.0.1:${cluster.port}/${new URL(url).pathname.slice(1)}, schema cli_migrate: version 1 (migrated from 0)`,
    );
    const again = await runCli(['migrate'], env);
    expect(again.stdout).toContain('schema cli_migrate: version 1 (up to date)');
    expectNoPassword(first);
    expect(await rowCount('cli_migrate', 'reports')).toBe(0);
  });

  it('without DATABASE_URL migrates SQLite in DATA_DIR', async () => {
    const dataDir = tempDir('cli-migrate-sqlite-');
    const first = await runCli(['migrate'], { DATA_DIR: dataDir });
    expect(first.code).toBe(0);
    expect(first.stdout.trim()).toMatch(/^SQLite .*bot\.sqlite: version \d+ \(migrated from 0\)$/);
    const again = await runCli(['migrate'], { DATA_DIR: dataDir });
    expect(again.stdout).toMatch(/version \d+ \(up to date\)/);
  });

  it('a refused login prints no password', async () => {
    const wrong = url.replace(encodeURIComponent(cluster.password), 'Wrong-Password-0123');
    const failed = await runCli(['migrate'], { DATA_DIR: tempDir('cli-migrate-'), DATABASE_URL: wrong });
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/^error: .*password authentication failed/);
    expect(failed.stderr).not.toContain('Wrong-Password-0123');
  });
});

describe('migrate-state', () => {
  it('prints the copy per table and a summary; a second run says there is nothing new', async () => {
    const dataDir = installation(3);
    await prepareSchema(url, 'cli_state');
    const args = ['migrate-state', '--from', dataDir, '--to', url, '--schema', 'cli_state'];
    const first = await runCli(args, { DATA_DIR: tempDir('cli-unused-') });
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expectNoPassword(first);
    const lines = first.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^table\s+rows\s+copied\s+already there\s+next id$/);
    expect(lines).toContainEqual(expect.stringMatching(/^reports\s+2\s+2\s+0\s+13$/));
    expect(lines).toContainEqual(expect.stringMatching(/^deliveries\s+5\s+5\s+0\s+103$/));
    expect(lines).toContainEqual(expect.stringMatching(/^telegram_files\s+1\s+1\s+0$/));
    expect(lines).toContain('files: 4 copied (3.3 MiB), 0 already there, 1 of removed spools skipped');
    expect(lines.at(-1)).toMatch(
      new RegExp(
        `^copied \\d+ of \\d+ rows in 20 tables and 4 files into PostgreSQL 127\\.0\\.0\\.1:${cluster.port}/\\w+, schema cli_state \\(installation [0-9a-f-]{36}\\)$`,
      ),
    );

    const second = await runCli(args, { DATA_DIR: tempDir('cli-unused-') });
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/^reports\s+2\s+0\s+2\s+13$/m);
    expect(second.stdout).toContain('files: 0 copied (0.0 KiB), 4 already there');
    expect(second.stdout.trim().split('\n').at(-1)).toMatch(
      /^nothing new to copy into PostgreSQL 127\.0\.0\.1:\d+\/\w+, schema cli_state: it already holds installation [0-9a-f-]{36}$/,
    );
  });

  it('killed (SIGKILL) in the middle of the copy, then run again: every table equal', async () => {
    const dataDir = installation(3000);
    await prepareSchema(url, 'cli_killed');
    const args = [
      'migrate-state',
      '--from',
      dataDir,
      '--to',
      url,
      '--schema',
      'cli_killed',
      '--batch-rows',
      '1',
    ];
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH ?? '', DATA_DIR: dataDir },
      stdio: 'ignore',
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.on('exit', (_code, signal) => resolve(signal)),
    );
    // wait until its transaction is copying the deliveries (other tables already in), then kill it
    const deadline = Date.now() + 30_000;
    let inside = false;
    while (!inside && Date.now() < deadline) {
      const sessions = await cluster.query<{ n: string }>(
        `SELECT count(*) AS n FROM pg_stat_activity
         WHERE application_name = 'superset-telegram-bot' AND backend_xid IS NOT NULL
           AND query LIKE 'INSERT INTO "deliveries"%'`,
      );
      inside = Number(sessions[0]?.n) > 0;
      if (!inside) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(inside).toBe(true);
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    expect(await rowCount('cli_killed', 'reports')).toBe(0);
    expect(await rowCount('cli_killed', 'deliveries')).toBe(0);

    const full = await runCli(args.slice(0, -2), { DATA_DIR: dataDir }, { timeoutMs: 120_000 });
    expect(full.stderr).toBe('');
    expect(full.code).toBe(0);
    expect(full.stdout).toMatch(/^deliveries\s+3002\s+3002\s+0\s+3100$/m);
    const pg = await openPostgresDatabase({ url, schema: 'cli_killed' });
    try {
      await expectSameRows(dataDir, pg);
    } finally {
      await pg.close();
    }
  }, 180_000);

  it('refused while a bot runs on DATA_DIR: exit code 1, one line, nothing copied', async () => {
    const dataDir = installation();
    await prepareSchema(url, 'cli_refused');
    const lock = InstanceLock.acquire(dataDir, { checkIntervalMs: 0 });
    try {
      const refused = await runCli(['migrate-state', '--from', dataDir, '--schema', 'cli_refused'], {
        DATA_DIR: dataDir,
        DATABASE_URL: url,
      });
      expect(refused.code).toBe(1);
      expect(refused.stdout).toBe('');
      expect(refused.stderr).toMatch(
        /^error: refused: a bot is running on the SQLite side: DATA_DIR .* process \d+/,
      );
      expect(refused.stderr.trim().split('\n')).toHaveLength(1);
      expectNoPassword(refused);
    } finally {
      lock.release();
    }
    expect(await rowCount('cli_refused', 'reports')).toBe(0);
  });

  it('asks for a target when there is none', async () => {
    const refused = await runCli(['migrate-state', '--from', installation()], {
      DATA_DIR: tempDir('cli-unused-'),
    });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe('error: give --to postgres://… (or set DATABASE_URL)\n');
  });
});
