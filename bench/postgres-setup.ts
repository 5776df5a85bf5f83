/**
 * The PostgreSQL side of the benchmarks (`--engine postgres` rows, issue 14): a throwaway cluster
 * (test/support/postgres-cluster.ts) with the bot's state in a fresh database, the embedded directory
 * there (mailboxes as the CLI adds them, readers written in bulk), and a DATA_DIR that holds nothing
 * that matters. The bot then runs with DATABASE_URL (one instance: it takes the lease and leads).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { LocalDirectory } from '../src/directory/local/local-directory.js';
import { openPostgresDatabase } from '../src/store/postgres-schema.js';
import { DURABLE_COMMITS } from '../test/support/bot-pair.js';
import { PostgresCluster } from '../test/support/postgres-cluster.js';
import type { BotSetupOptions, PreparedBot } from './bot-setup.js';
import type { Resources } from './resources.js';

/** Readers per INSERT statement. */
const BATCH = 500;

/** Like `prepareDataDir`, with the state in a new PostgreSQL cluster (removed by `resources`). */
export async function preparePostgresState(
  options: BotSetupOptions,
  resources: Resources,
): Promise<PreparedBot & { databaseUrl: string }> {
  const { dovecot, telegram } = options;
  const cluster = resources.hold(
    await PostgresCluster.start({ extraConf: DURABLE_COMMITS }),
    'PostgreSQL cluster',
    (started) => started.destroy(),
  );
  const databaseUrl = await cluster.createDatabase();
  const dataDir = resources.hold(mkdtempSync(path.join(tmpdir(), 'stb-bench-')), 'DATA_DIR', (dir) =>
    rmSync(dir, { recursive: true, force: true }),
  );
  const db = await openPostgresDatabase({ url: databaseUrl });
  try {
    const directory = new LocalDirectory(db, { phoneRegion: 'RU', pollIntervalMs: 0 });
    const mailboxes: string[] = [];
    for (const user of options.mailboxUsers) {
      const added = await directory.addMailbox({
        email: dovecot.address(user),
        host: dovecot.host,
        port: dovecot.port,
        tls: 'none',
        login: user,
        password: dovecot.password,
      });
      mailboxes.push(added.email);
    }
    const chats: number[] = [];
    const first = options.firstChatId ?? 8_000_001;
    for (let index = 0; index < options.readers; index++) {
      const chatId = first + index;
      telegram.addPrivateChat({ id: chatId, first_name: `Reader ${index + 1}` });
      chats.push(chatId);
    }
    // straight into the directory's tables, in one transaction (as prepareDataDir does on SQLite)
    await db.transaction(async () => {
      const now = new Date().toISOString();
      for (let start = 0; start < chats.length; start += BATCH) {
        const batch = chats.slice(start, start + BATCH);
        await db.run(
          `INSERT INTO users (name, phone, telegram_id, created_at, updated_at) VALUES ${batch.map(() => '(?, ?, ?, ?, ?)').join(', ')}`,
          batch.flatMap((chatId) => [
            `Reader ${chatId - first + 1}`,
            `+7999${String(chatId % 10_000_000).padStart(7, '0')}`,
            chatId,
            now,
            now,
          ]),
        );
      }
      for (const email of mailboxes) {
        await db.run(
          'INSERT INTO user_mailboxes (user_id, mailbox_id) SELECT users.id, mailboxes.id FROM users, mailboxes WHERE mailboxes.email = ?',
          [email],
        );
      }
    });
    return {
      dataDir,
      mailboxes,
      chats,
      databaseUrl,
      env: {
        DATA_DIR: dataDir,
        DATABASE_URL: databaseUrl,
        TELEGRAM_BOT_TOKEN: telegram.token,
        TELEGRAM_API_ROOT: telegram.apiRoot,
      },
    };
  } finally {
    await db.close();
  }
}
