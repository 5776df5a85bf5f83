/**
 * A throwaway PostgreSQL cluster for the tests, like the Dovecot harness (test/dovecot/): Debian's
 * binaries (`/usr/lib/postgresql/<highest version>/bin`), `initdb` in a fresh temp dir, the server on
 * 127.0.0.1 and a free port with its unix socket in the temp dir. Logins over TCP need a password
 * (scram-sha-256): the tests connect as a password user, as the bot would to a real server.
 *
 * PostgreSQL refuses to run as root: when the tests run as root (CI), the cluster's commands run as the
 * `postgres` system user (created by Debian's package) and the temp dir belongs to it.
 *
 * One cluster per test file (or per run); each test file takes a fresh database ({@link createDatabase}).
 * `stop()`/`start()`/`restart()` are for fault tests ("PostgreSQL restarted during a fan-out").
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

/** The bin dir of the highest PostgreSQL version Debian installed. */
export function postgresBinDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((name) => /^\d+$/.test(name) && existsSync(path.join(root, name, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0) {
    throw new Error(
      'no PostgreSQL found in /usr/lib/postgresql: run `node scripts/install-test-prerequisites.mjs`',
    );
  }
  return path.join(root, versions[0] as string, 'bin');
}

/** Whether PostgreSQL's binaries are installed (tests may skip when they are not). */
export function postgresInstalled(): boolean {
  try {
    postgresBinDir();
    return true;
  } catch {
    return false;
  }
}

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface PostgresClusterOptions {
  /** Extra `postgresql.conf` lines (e.g. `max_connections = 50`). */
  extraConf?: string;
}

export class PostgresCluster {
  readonly host = '127.0.0.1';
  /** The password user the tests connect as (a superuser of the cluster, so it can create databases). */
  readonly user = 'bot_test';
  /** The password of {@link user} (each cluster gets its own at its first start). */
  password = '';
  port = 0;
  private running = false;
  private databaseCount = 0;

  private constructor(
    /** The temp dir: `data/` (the cluster), `run/` (the unix socket), `postgres.log`. */
    readonly dir: string,
    private readonly bin: string,
    private readonly asPostgresUser: boolean,
  ) {}

  /** Creates (initdb) and starts a new cluster in a fresh temp dir. */
  static async start(options: PostgresClusterOptions = {}): Promise<PostgresCluster> {
    const bin = postgresBinDir();
    // short path: the unix socket lives under DIR/run (108-byte limit)
    const dir = mkdtempSync(path.join(tmpdir(), 'pg-'));
    const asPostgresUser = process.getuid?.() === 0;
    const cluster = new PostgresCluster(dir, bin, asPostgresUser);
    try {
      await cluster.init(options);
      await cluster.start();
      const password = randomPassword();
      await cluster.query(`ALTER ROLE ${cluster.user} PASSWORD '${password}'`);
      cluster.password = password;
    } catch (error) {
      await cluster.destroy().catch(() => undefined);
      throw error;
    }
    return cluster;
  }

  get dataDir(): string {
    return path.join(this.dir, 'data');
  }

  get socketDir(): string {
    return path.join(this.dir, 'run');
  }

  get logFile(): string {
    return path.join(this.dir, 'postgres.log');
  }

  /** Whether the server was last started (and not stopped) by this harness. */
  get isRunning(): boolean {
    return this.running;
  }

  /** The connection URL of a database (default `postgres`), with the password user. */
  url(database = 'postgres'): string {
    return `postgres://${this.user}:${encodeURIComponent(this.password)}@${this.host}:${this.port}/${database}`;
  }

  /**
   * Creates a fresh, empty database (named `name`, or a unique one) and returns its URL.
   * Each test file takes its own, so files sharing a cluster never see each other's state.
   */
  async createDatabase(name?: string): Promise<string> {
    this.databaseCount += 1;
    const database =
      name ?? `test_${process.pid}_${this.databaseCount}_${Math.random().toString(36).slice(2, 8)}`;
    await this.query(`CREATE DATABASE "${database.replaceAll('"', '""')}"`);
    return this.url(database);
  }

  /** Runs one SQL statement as the test superuser on the `postgres` database (for setup and inspection). */
  async query<T extends pg.QueryResultRow = pg.QueryResultRow>(
    sql: string,
    params: unknown[] = [],
    database = 'postgres',
  ): Promise<T[]> {
    const client = new pg.Client({ connectionString: this.url(database) });
    client.on('error', () => undefined);
    await client.connect();
    try {
      return (await client.query<T>(sql, params)).rows;
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /** Starts a stopped server again on the same port. */
  async start(): Promise<void> {
    if (this.running) return;
    if (this.port === 0) this.port = await freePort();
    await this.ctl([
      'start',
      '-w',
      '-t',
      '60',
      '-D',
      this.dataDir,
      '-l',
      this.logFile,
      '-o',
      `-p ${this.port} -k ${this.socketDir} -c listen_addresses=${this.host}`,
    ]);
    this.running = true;
  }

  /**
   * Stops the server, keeping its data. `fast` (default) ends the sessions (clients see 57P01
   * admin shutdown); `immediate` is a crash (no shutdown checkpoint, clients see the socket close).
   */
  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    if (!this.running) return;
    await this.ctl(['stop', '-w', '-t', '60', '-m', mode, '-D', this.dataDir]);
    this.running = false;
  }

  /** Stops and starts the server on the same port (sessions are cut; the data stays). */
  async restart(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    await this.stop(mode);
    await this.start();
  }

  /** Stops the server (as a crash: nothing to keep) and deletes its directory. */
  async destroy(): Promise<void> {
    try {
      if (this.running || existsSync(path.join(this.dataDir, 'postmaster.pid'))) {
        this.running = true;
        await this.stop('immediate');
      }
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }

  private async init(options: PostgresClusterOptions): Promise<void> {
    mkdirSync(this.socketDir);
    if (this.asPostgresUser) this.chownToPostgres([this.dir, this.socketDir]);
    const template = await clusterTemplate(this.bin, this.asPostgresUser);
    // a copy of an initdb'd template: much quicker than initdb for every test file
    await run('cp', ['-a', path.join(template.dir, 'data'), this.dataDir]);
    this.password = template.password;
    if (options.extraConf) {
      writeFileSync(path.join(this.dataDir, 'postgresql.auto.conf'), `\n${options.extraConf}\n`, {
        flag: 'a',
      });
    }
  }

  private chownToPostgres(paths: string[]): void {
    const { uid, gid } = postgresUserIds();
    for (const file of paths) chownSync(file, uid, gid);
  }

  private async ctl(args: string[]): Promise<void> {
    await this.command('pg_ctl', args);
  }

  /** Runs one of the cluster's binaries, as the `postgres` user when we are root. */
  private async command(name: string, args: string[]): Promise<void> {
    const binary = path.join(this.bin, name);
    const [file, argv] = this.asPostgresUser
      ? ['runuser', ['-u', 'postgres', '--', binary, ...args]]
      : [binary, args];
    try {
      // cwd: the postgres user may not be allowed into the caller's working directory
      await run(file, argv, { cwd: this.dir, timeout: 120_000 });
    } catch (error) {
      const { stdout, stderr } = error as { stdout?: string; stderr?: string };
      throw new Error(`${name} ${args[0] ?? ''} failed: ${stderr || stdout || String(error)}`);
    }
  }
}

function randomPassword(): string {
  return `pw-${randomBytes(12).toString('hex')}`;
}

/**
 * An initdb'd cluster to copy (one per PostgreSQL version and uid, kept in the temp dir across runs):
 * built in a dir of its own and renamed into place, so test files starting together never see half of it.
 */
async function clusterTemplate(
  bin: string,
  asPostgresUser: boolean,
): Promise<{ dir: string; password: string }> {
  const version = path.basename(path.dirname(bin));
  const dir = path.join(tmpdir(), `pg-template-v1-${version}-${process.getuid?.() ?? 'user'}`);
  const read = () => ({ dir, password: readFileSync(path.join(dir, 'password'), 'utf8').trim() });
  if (existsSync(path.join(dir, 'ready'))) return read();
  const build = mkdtempSync(path.join(tmpdir(), 'pg-template-build-'));
  try {
    const password = randomPassword();
    const pwfile = path.join(build, 'password');
    writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
    if (asPostgresUser) {
      const { uid, gid } = postgresUserIds();
      chownSync(build, uid, gid);
      chownSync(pwfile, uid, gid);
    }
    const initdb = path.join(bin, 'initdb');
    const args = [
      '-D',
      path.join(build, 'data'),
      '-U',
      'bot_test',
      `--pwfile=${pwfile}`,
      '--auth-host=scram-sha-256',
      '--auth-local=scram-sha-256',
      '--encoding=UTF8',
      '--no-locale',
      '--no-sync',
    ];
    const [file, argv] = asPostgresUser
      ? ['runuser', ['-u', 'postgres', '--', initdb, ...args]]
      : [initdb, args];
    try {
      await run(file, argv, { cwd: build, timeout: 120_000 });
    } catch (error) {
      const { stdout, stderr } = error as { stdout?: string; stderr?: string };
      throw new Error(`initdb failed: ${stderr || stdout || String(error)}`);
    }
    const conf = [
      '',
      '# throwaway test cluster: speed over durability',
      'fsync = off',
      'synchronous_commit = off',
      'full_page_writes = off',
      'shared_buffers = 16MB',
      'max_connections = 100',
      "unix_socket_permissions = '0777'",
      'log_min_messages = warning',
      '',
    ].join('\n');
    writeFileSync(path.join(build, 'data', 'postgresql.auto.conf'), conf, { flag: 'a' });
    writeFileSync(path.join(build, 'ready'), '');
    try {
      renameSync(build, dir);
    } catch (error) {
      // another test file built it first
      if (!existsSync(path.join(dir, 'ready'))) throw error;
      rmSync(build, { recursive: true, force: true });
    }
    return read();
  } catch (error) {
    rmSync(build, { recursive: true, force: true });
    throw error;
  }
}

let postgresIds: { uid: number; gid: number } | undefined;

/** The uid/gid of the `postgres` system user (Debian's package creates it). */
function postgresUserIds(): { uid: number; gid: number } {
  if (postgresIds) return postgresIds;
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) throw new Error('no `postgres` system user');
  postgresIds = { uid, gid };
  return postgresIds;
}
