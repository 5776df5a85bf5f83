/**
 * A throwaway Dovecot IMAP server for the tests, started from test/dovecot/start-dovecot.sh
 * (adapted from shared/reference/dovecot-test). Every test file that needs IMAP starts its own
 * instance in a short temp dir, so files can run in parallel and restart their server freely.
 */
import { execFile } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ImapFlow } from 'imapflow';

const run = promisify(execFile);
const scripts = path.dirname(fileURLToPath(import.meta.url));

/** Capabilities Dovecot 2.3 advertises, minus IDLE: the "server without IDLE" case. */
const CAPABILITIES_WITHOUT_IDLE =
  'imap_capability = IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE SORT SORT=DISPLAY THREAD=REFERENCES ' +
  'THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL CATENATE UNSELECT CHILDREN NAMESPACE ' +
  'UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES WITHIN CONTEXT=SEARCH ' +
  'LIST-STATUS BINARY MOVE SNIPPET=FUZZY PREVIEW=FUZZY PREVIEW STATUS=SIZE SAVEDATE LITERAL+ NOTIFY';

export interface DovecotOptions {
  /** Number of users user1..userN (default 3). All share one password. */
  users?: number;
  /** Start without the IDLE capability, so clients must poll. */
  noIdle?: boolean;
  /** Extra lines for dovecot.conf (e.g. `imap_fetch_failure = no-after`). */
  extraConf?: string;
  /**
   * Also accept OAuth2 logins (SASL XOAUTH2 and OAUTHBEARER) through Dovecot's `oauth2` passdb, which
   * asks this RFC 7662 introspection endpoint (`introspection_mode = post`) whether a token is active
   * and whose it is (`username`). Password logins keep working. Like Microsoft 365, only XOAUTH2 is
   * advertised unless `oauthbearer` is set.
   */
  oauth2?: { introspectionUrl: string; oauthbearer?: boolean };
}

export class DovecotServer {
  readonly host = '127.0.0.1';
  port = 0;
  imapsPort = 0;
  password = 'secret';
  conf = '';
  ca = '';
  private readonly userCount: number;
  private noIdle: boolean;
  private readonly extraConf: string;
  private readonly oauth2: { introspectionUrl: string; oauthbearer?: boolean } | null;

  private constructor(
    readonly dir: string,
    options: DovecotOptions,
  ) {
    this.userCount = options.users ?? 3;
    this.noIdle = options.noIdle ?? false;
    this.extraConf = options.extraConf ?? '';
    this.oauth2 = options.oauth2 ?? null;
  }

  /** Starts a new instance in a fresh temp dir. */
  static async start(options: DovecotOptions = {}): Promise<DovecotServer> {
    // short path: Dovecot's unix sockets live under DIR/run (108-byte limit)
    const dir = mkdtempSync(path.join(tmpdir(), 'dc-'));
    const server = new DovecotServer(dir, options);
    await server.boot();
    return server;
  }

  /** The address a mailbox of user N is configured with (the domain is ignored by Dovecot). */
  address(user: string): string {
    return `${user}@example.com`;
  }

  private async boot(port?: number): Promise<void> {
    const extra = [this.noIdle ? CAPABILITIES_WITHOUT_IDLE : '', this.oauth2Conf(), this.extraConf]
      .filter(Boolean)
      .join('\n');
    const env = { ...process.env, DOVECOT_EXTRA_CONF: extra };
    const args = [path.join(scripts, 'start-dovecot.sh'), this.dir, String(this.userCount)];
    if (port) args.push(String(port));
    const { stdout } = await run('bash', args, { env });
    const vars = Object.fromEntries(
      stdout
        .trim()
        .split('\n')
        .map((line) => {
          const at = line.indexOf('=');
          return [line.slice(0, at), line.slice(at + 1).replace(/^"|"$/g, '')];
        }),
    );
    this.port = Number(vars.IMAP_PORT);
    this.imapsPort = Number(vars.IMAPS_PORT);
    this.password = vars.DOVECOT_PASSWORD ?? 'secret';
    this.conf = vars.DOVECOT_CONF ?? '';
    this.ca = vars.DOVECOT_CA ?? '';
  }

  /** The dovecot.conf lines of the oauth2 passdb, with its own file next to dovecot.conf. */
  private oauth2Conf(): string {
    if (!this.oauth2) return '';
    const file = path.join(this.dir, 'dovecot-oauth2.conf.ext');
    writeFileSync(
      file,
      [
        `introspection_url = ${this.oauth2.introspectionUrl}`,
        'introspection_mode = post',
        'force_introspection = yes',
        'username_attribute = username',
        'active_attribute = active',
        'active_value = true',
        '',
      ].join('\n'),
    );
    // the auth process runs as the dovecot user
    chmodSync(file, 0o644);
    return [
      `auth_mechanisms = plain login xoauth2${this.oauth2.oauthbearer ? ' oauthbearer' : ''}`,
      'passdb {',
      '  driver = oauth2',
      `  mechanisms = xoauth2${this.oauth2.oauthbearer ? ' oauthbearer' : ''}`,
      `  args = ${file}`,
      '}',
    ].join('\n');
  }

  /** Stops the server, keeping its mail, so it can be started again. */
  async halt(): Promise<void> {
    await run('bash', [path.join(scripts, 'stop-dovecot.sh'), this.dir]);
  }

  /** Starts a halted server again on the same port. */
  async resume(options: { noIdle?: boolean } = {}): Promise<void> {
    if (options.noIdle !== undefined) this.noIdle = options.noIdle;
    await this.boot(this.port);
  }

  async restart(): Promise<void> {
    await this.halt();
    await this.resume();
  }

  /** Stops the server and deletes its directory. */
  async stop(): Promise<void> {
    await this.halt();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Drops every session of a user (the server says BYE). */
  async kick(user: string): Promise<void> {
    try {
      await this.doveadm(['kick', user]);
    } catch (error) {
      // exit 68 = EX_NOUSER: nobody was logged in, nothing to kick
      if ((error as { code?: number }).code !== 68) throw error;
    }
  }

  /** Changes a mailbox's UIDVALIDITY; open sessions are told to log in again. */
  async setUidValidity(user: string, uidValidity: number, folder = 'INBOX'): Promise<void> {
    await this.doveadm(['mailbox', 'update', '-u', user, '--uid-validity', String(uidValidity), folder]);
  }

  async status(
    user: string,
    folder = 'INBOX',
  ): Promise<{ messages: number; uidnext: number; uidvalidity: number }> {
    const { stdout } = await this.doveadm([
      '-f',
      'flow',
      'mailbox',
      'status',
      '-u',
      user,
      'messages uidnext uidvalidity',
      folder,
    ]);
    const field = (name: string) => Number(new RegExp(`${name}=(\\d+)`).exec(stdout)?.[1] ?? Number.NaN);
    return { messages: field('messages'), uidnext: field('uidnext'), uidvalidity: field('uidvalidity') };
  }

  /** Deletes a folder of a user, with the mail in it (like a user or an admin deleting it). */
  async deleteFolder(user: string, folder: string): Promise<void> {
    await this.doveadm(['mailbox', 'delete', '-u', user, '-s', folder]);
  }

  /** Logins of a user so far, counted in the server's log (across restarts of this instance). */
  logins(user: string): number {
    const log = readFileSync(path.join(this.dir, 'dovecot.log'), 'utf8');
    return log.split('\n').filter((line) => line.includes(`imap-login: Info: Login: user=<${user}>`)).length;
  }

  /**
   * Changes the file mode of the INBOX message containing `marker` (e.g. 0 makes it unreadable to
   * the server, which then refuses to FETCH it). Returns the previous mode.
   */
  setMessageMode(user: string, marker: string, mode: number): number {
    const maildir = path.join(this.dir, 'mail', user, 'Maildir');
    // Dovecot moves a message from new/ to cur/ (renaming it) when a session syncs: look again then
    for (let attempt = 0; attempt < 20; attempt++) {
      for (const sub of ['new', 'cur']) {
        const dir = path.join(maildir, sub);
        for (const name of readdirSync(dir)) {
          const file = path.join(dir, name);
          try {
            if (!readFileSync(file, 'utf8').includes(marker)) continue;
            const previous = statSync(file).mode & 0o777;
            chmodSync(file, mode);
            return previous;
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
          }
        }
      }
    }
    throw new Error(`no message containing ${marker} in ${maildir}`);
  }

  /** Creates a folder for a user. */
  async createFolder(user: string, folder: string): Promise<void> {
    await this.doveadm(['mailbox', 'create', '-u', user, folder]);
  }

  /** Appends a message over IMAP, like a mail client or a delivery agent would. */
  async append(
    user: string,
    raw: string | Buffer,
    options: { folder?: string; internalDate?: Date } = {},
  ): Promise<{ uid?: number }> {
    const client = this.client(user);
    await client.connect();
    try {
      const result = await client.append(options.folder ?? 'INBOX', raw, [], options.internalDate);
      return { uid: result ? result.uid : undefined };
    } finally {
      await client.logout().catch(() => undefined);
    }
  }

  /**
   * Drops a message straight into a user's Maildir, as a delivery agent would while the IMAP server is
   * down; Dovecot gives it a UID on its next sync.
   */
  deliverOffline(user: string, raw: string | Buffer): void {
    const maildir = path.join(this.dir, 'mail', user, 'Maildir');
    const name = `${Date.now()}.${process.pid}_${Math.random().toString(36).slice(2)}.test`;
    mkdirSync(path.join(maildir, 'tmp'), { recursive: true });
    mkdirSync(path.join(maildir, 'new'), { recursive: true });
    const temporary = path.join(maildir, 'tmp', name);
    writeFileSync(temporary, raw);
    const entry = readFileSync(path.join(this.dir, 'users'), 'utf8')
      .split('\n')
      .find((line) => line.startsWith(`${user}:`));
    const [, , uid, gid] = entry?.split(':') ?? [];
    if (uid && gid) {
      for (const target of [maildir, path.join(maildir, 'tmp'), path.join(maildir, 'new'), temporary]) {
        chownSync(target, Number(uid), Number(gid));
      }
    }
    renameSync(temporary, path.join(maildir, 'new', name));
  }

  /** The settings a directory needs for a user's mailbox on this server (plaintext on loopback). */
  mailbox<T extends object = object>(
    user: string,
    extra: T = {} as T,
  ): { email: string; host: string; port: number; tls: 'none'; login: string; password: string } & T {
    return {
      email: this.address(user),
      host: this.host,
      port: this.port,
      tls: 'none',
      login: user,
      password: this.password,
      ...extra,
    };
  }

  /** An imapflow client for a user, plaintext on loopback. */
  client(user: string): ImapFlow {
    return new ImapFlow({
      host: this.host,
      port: this.port,
      secure: false,
      doSTARTTLS: false,
      auth: { user, pass: this.password },
      logger: false,
    });
  }

  private doveadm(args: string[]) {
    return run('doveadm', ['-c', this.conf, ...args]);
  }
}
