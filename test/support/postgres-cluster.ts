/**
 * A throwaway PostgreSQL cluster for the tests (Debian's package: initdb, pg_ctl): a data directory in a
 * temp dir, a free loopback port, trust authentication, fsync off. Each test file starts its own and
 * may restart or stop it. Run as root, the server runs as the `postgres` user (initdb refuses root).
 *
 * (Minimal version by engineer "lease" until engineer "pg"'s harness lands; replace with that one.)
 */
import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

function binary(name: string): string {
  for (const dir of [
    '/usr/lib/postgresql/17/bin',
    '/usr/lib/postgresql/16/bin',
    '/usr/lib/postgresql/15/bin',
  ]) {
    const file = path.join(dir, name);
    if (existsSync(file)) return file;
  }
  return name;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export class PostgresCluster {
  readonly host = '127.0.0.1';
  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  /** The connection URL of a database (default `postgres`). */
  url(database = 'postgres'): string {
    return `postgres://postgres@${this.host}:${this.port}/${database}`;
  }

  private get dataDir(): string {
    return path.join(this.dir, 'data');
  }

  private static async asOwner(command: string, args: string[]): Promise<void> {
    const asRoot = process.getuid?.() === 0;
    if (asRoot) await run('runuser', ['-u', 'postgres', '--', command, ...args]);
    else await run(command, args);
  }

  /** initdb and start a new cluster. */
  static async start(): Promise<PostgresCluster> {
    const dir = mkdtempSync(path.join(tmpdir(), 'stb-pg-'));
    const asRoot = process.getuid?.() === 0;
    if (asRoot) {
      const { stdout } = await run('id', ['-u', 'postgres']);
      const { stdout: gid } = await run('id', ['-g', 'postgres']);
      chownSync(dir, Number(stdout.trim()), Number(gid.trim()));
    }
    const cluster = new PostgresCluster(dir, await freePort());
    await PostgresCluster.asOwner(binary('initdb'), [
      '-D',
      cluster.dataDir,
      '-U',
      'postgres',
      '--auth=trust',
      '--no-sync',
      '-E',
      'UTF8',
    ]);
    await cluster.startServer();
    return cluster;
  }

  private async startServer(): Promise<void> {
    await PostgresCluster.asOwner(binary('pg_ctl'), [
      '-D',
      this.dataDir,
      '-l',
      path.join(this.dir, 'server.log'),
      '-w',
      '-o',
      `-p ${this.port} -k ${this.dir} -c listen_addresses=${this.host} -c fsync=off -c synchronous_commit=off -c full_page_writes=off`,
      'start',
    ]);
  }

  /** Stops the server (fast: open sessions are terminated) and starts it again on the same port. */
  async restart(): Promise<void> {
    await this.stopServer();
    await this.startServer();
  }

  private async stopServer(): Promise<void> {
    await PostgresCluster.asOwner(binary('pg_ctl'), ['-D', this.dataDir, '-m', 'fast', '-w', 'stop']);
  }

  /** The server's log, for a failing test's message. */
  log(): string {
    try {
      return readFileSync(path.join(this.dir, 'server.log'), 'utf8');
    } catch {
      return '';
    }
  }

  /** Stops the server and removes its directory. */
  async destroy(): Promise<void> {
    try {
      await this.stopServer();
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}
