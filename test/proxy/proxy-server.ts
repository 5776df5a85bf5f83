/**
 * Real proxy servers for the TELEGRAM_PROXY tests, each a throwaway instance in a temp dir on a free
 * port, started and stopped by the test: Debian's `tinyproxy` (HTTP CONNECT with BasicAuth) and
 * `dante-server` (danted: SOCKS5 with a username and password).
 *
 * Proof that nothing bypasses the proxy:
 * - the proxy runs in its own mount namespace (`unshare -m`) whose /etc/hosts alone knows
 *   {@link FAKE_TELEGRAM_HOST}: the bot cannot even resolve the Bot API fake's name itself
 *   (http:// and socks5h://, where the proxy resolves);
 * - the proxy connects out from {@link PROXY_OUTGOING_ADDRESS}, and the fake accepts connections from
 *   that address only (`FakeTelegramOptions.acceptFrom`): a direct connection is cut (this is the proof
 *   for socks5://, where the bot resolves the name and names an IP to the proxy).
 *
 * Needs root (namespaces; danted checks the SOCKS password against the system's password file, so
 * the user {@link SOCKS_USER} is created once if missing) and `apt-get install tinyproxy dante-server`.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../support/bot-harness.js';

/** The Bot API fake's host name, known only inside the proxies' namespace. */
export const FAKE_TELEGRAM_HOST = 'api.telegram.test';
/** The address the proxies connect out from; the fake accepts connections from it alone. */
export const PROXY_OUTGOING_ADDRESS = '127.0.0.3';
/** The system user danted checks SOCKS5 logins against. */
export const SOCKS_USER = 'stb-proxy-test';
const SOCKS_PASSWORD = 'socks-Pass-7d41c9';

/** Whether these tests can run here (root, tinyproxy and danted installed). */
export function proxyServersAvailable(): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    execFileSync('sh', ['-c', 'command -v tinyproxy && command -v danted && command -v unshare'], {
      stdio: 'ignore',
    });
    return true;
  } catch {
    return false;
  }
}

export type ProxyProgram = 'tinyproxy' | 'danted';

export class ProxyServer {
  private child: ChildProcess | null = null;
  private output = '';

  private constructor(
    readonly program: ProxyProgram,
    readonly dir: string,
    readonly port: number,
    readonly user: string,
    readonly password: string,
  ) {}

  /** Starts `program` on a free port of 127.0.0.1. */
  static async start(program: ProxyProgram): Promise<ProxyServer> {
    const dir = mkdtempSync(path.join(tmpdir(), `${program}-`));
    chmodSync(dir, 0o755);
    const port = await freePort();
    const server =
      program === 'tinyproxy'
        ? new ProxyServer(program, dir, port, 'bot', `http-Pass-${Math.random().toString(36).slice(2, 10)}`)
        : new ProxyServer(program, dir, port, SOCKS_USER, ensureSocksUser());
    server.writeConfig();
    await server.resume();
    return server;
  }

  /** The TELEGRAM_PROXY URL of this proxy (`scheme`: http, socks5 or socks5h), optionally with another password. */
  url(scheme: 'http' | 'socks5' | 'socks5h', password = this.password): string {
    return `${scheme}://${encodeURIComponent(this.user)}:${encodeURIComponent(password)}@127.0.0.1:${this.port}`;
  }

  /** What the proxy printed (for a failing test's message). */
  get log(): string {
    return this.output;
  }

  /** Starts (again, after {@link pause}) on the same port and waits until it listens. */
  async resume(): Promise<void> {
    if (this.child) return;
    const command =
      this.program === 'tinyproxy'
        ? `exec tinyproxy -d -c ${this.dir}/proxy.conf`
        : `exec danted -f ${this.dir}/proxy.conf -p ${this.dir}/danted.pid -N 1`;
    // /etc/hosts with the fake's name, seen by the proxy alone
    const child = spawn(
      'unshare',
      ['-m', 'sh', '-c', `mount --bind ${this.dir}/hosts /etc/hosts && ${command}`],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    this.child = child;
    const take = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString('utf8')).slice(-20_000);
    };
    child.stdout!.on('data', take);
    child.stderr!.on('data', take);
    child.once('exit', () => {
      if (this.child === child) this.child = null;
    });
    const deadline = Date.now() + 10_000;
    while (!(await listening(this.port))) {
      if (Date.now() > deadline || this.child !== child)
        throw new Error(`${this.program} did not start on port ${this.port}:\n${this.output}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Stops the proxy (its port refuses connections) until {@link resume}. */
  async pause(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = null;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
    // danted's worker processes leave with their parent; wait until the port is free
    while (await listening(this.port)) await new Promise((resolve) => setTimeout(resolve, 50));
  }

  async stop(): Promise<void> {
    await this.pause();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private writeConfig(): void {
    const hosts = `${readFileSync('/etc/hosts', 'utf8').trimEnd()}\n127.0.0.1 ${FAKE_TELEGRAM_HOST}\n`;
    writeFileSync(path.join(this.dir, 'hosts'), hosts);
    const config =
      this.program === 'tinyproxy'
        ? [
            `Port ${this.port}`,
            'Listen 127.0.0.1',
            `Bind ${PROXY_OUTGOING_ADDRESS}`,
            'Timeout 600',
            'MaxClients 200',
            'User nobody',
            'Group nogroup',
            'LogLevel Connect',
            // no ConnectPort line: CONNECT to any port (the fake's is random)
            `BasicAuth ${this.user} ${this.password}`,
          ]
        : [
            'logoutput: stderr',
            `internal: 127.0.0.1 port = ${this.port}`,
            `external: ${PROXY_OUTGOING_ADDRESS}`,
            'socksmethod: username',
            'clientmethod: none',
            'user.privileged: root',
            'user.unprivileged: nobody',
            'client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }',
            'socks pass { from: 127.0.0.0/8 to: 0.0.0.0/0 command: connect }',
          ];
    writeFileSync(path.join(this.dir, 'proxy.conf'), `${config.join('\n')}\n`);
  }
}

/** danted checks SOCKS5 passwords against the system's: the test user, created once (as root). */
function ensureSocksUser(): string {
  try {
    execFileSync('id', [SOCKS_USER], { stdio: 'ignore' });
  } catch {
    execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', SOCKS_USER]);
  }
  // set every time (chpasswd waits for the lock), so a user left by another setup cannot disagree
  execFileSync('chpasswd', { input: `${SOCKS_USER}:${SOCKS_PASSWORD}\n` });
  return SOCKS_PASSWORD;
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
