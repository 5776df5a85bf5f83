/**
 * Import and export of the embedded directory's tables (a real SQLite file, the real LocalDirectory):
 * an export reads back unchanged, a dry run changes nothing, an applied import is one transaction, and
 * mistaken or hostile files are refused row by row with nothing applied.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { readCsv } from '../../../src/directory/local/csv-file.js';
import {
  type CsvTableSpec,
  DIRECTORY_CSV,
  GROUP_CSV,
  MAILBOX_CSV,
  USER_CSV,
} from '../../../src/directory/local/directory-csv-tables.js';
import {
  applyImport,
  CsvHeaderError,
  exportTable,
  planImport,
} from '../../../src/directory/local/directory-import.js';
import {
  DirectoryInputError,
  LocalDirectory,
  type NewUser,
} from '../../../src/directory/local/local-directory.js';
import { type Database, openDatabase } from '../../../src/store/database.js';
import { SqliteDatabase } from '../../../src/store/sqlite-database.js';
import { forEachEngine } from '../../store/engines.js';
import { removeDir, tempDataDir } from '../../support/bot-harness.js';
import { ensureDirectoryVersion } from '../directory-worlds.js';

const opened: Array<{ db: Database; dir: string }> = [];
afterEach(() => {
  for (const { db, dir } of opened.splice(0)) {
    db.close();
    removeDir(dir);
  }
});

async function world(env: Record<string, string> = {}) {
  const dir = tempDataDir();
  const db = openDatabase(dir);
  opened.push({ db, dir });
  const sql = new SqliteDatabase(db);
  const directory = new LocalDirectory(sql, { phoneRegion: 'RU', pollIntervalMs: 0, env });
  await directory.start();
  return { db, sql, directory };
}

/** A directory with the awkward values a real one has. */
async function populated() {
  const w = await world({ SALES_PASSWORD: 'from-the-environment' });
  const { directory } = w;
  await directory.addMailbox({
    email: 'Reports@Example.com',
    host: 'imap.example.com',
    password: 'Stored-Secret-123',
    allowFrom: ['@bi.example.com', 'superset@example.org'],
    markSeen: false,
    senderAuth: 'authentication-results:mx.example.com',
  });
  await directory.addMailbox({
    email: 'sales@example.com',
    host: 'imap.example.com',
    port: 143,
    tls: 'starttls',
    login: 'sales-login',
    passwordEnv: 'SALES_PASSWORD',
    folder: 'Superset/Отчёты',
    mediaMode: 'both',
  });
  await directory.addUser({
    name: 'Иван "Ваня" Петров; отдел',
    phone: '8 (999) 123-45-67',
    mailboxes: ['reports@example.com'],
  });
  await directory.addUser({
    name: '=HYPERLINK("http://evil.example","click")',
    phone: '+7 999 123-45-68',
    mailboxes: ['reports@example.com', 'sales@example.com'],
    telegramId: 5_551_234,
  });
  await directory.setUserPaused('+79991234568', true);
  await directory.addGroup({
    title: 'BI, team',
    mailboxes: ['sales@example.com'],
    telegramId: -1_001_234_567_890,
    topicId: 7,
  });
  await directory.addGroup({
    title: '@channel',
    mailboxes: ['reports@example.com'],
    mediaMode: 'document',
    tallImageMode: 'tiles',
  });
  return w;
}

const context = (directory: LocalDirectory) => ({
  phoneRegion: 'RU' as const,
  knownMailboxes: new Set(directory.snapshot().mailboxes.map((mailbox) => mailbox.email)),
});

function plan<E extends { key: string }>(spec: CsvTableSpec<E>, directory: LocalDirectory, csv: string) {
  return planImport(spec, readCsv(Buffer.from(csv)), directory.snapshot(), context(directory));
}

describe('export, then import', () => {
  it('reads every table back unchanged, with either separator', async () => {
    const { directory } = await populated();
    for (const kind of ['mailbox', 'user', 'group'] as const) {
      for (const separator of [';', ','] as const) {
        const text = exportTable(DIRECTORY_CSV[kind] as never, directory.snapshot(), separator);
        const result = plan(DIRECTORY_CSV[kind] as CsvTableSpec<{ key: string }>, directory, text);
        expect(result.problems, `${kind} ${separator}`).toEqual([]);
        expect(
          { adds: result.adds, changes: result.changes, removes: result.removes },
          `${kind} ${separator}`,
        ).toEqual({
          adds: [],
          changes: [],
          removes: [],
        });
        expect(result.unchanged).toBe(DIRECTORY_CSV[kind].entries(directory.snapshot()).length);
      }
    }
  });

  it('writes no stored password, neutralises formulas, and keeps what the bot learnt meanwhile', async () => {
    const { directory } = await populated();
    const mailboxes = exportTable(MAILBOX_CSV, directory.snapshot(), ';');
    expect(mailboxes).not.toContain('Stored-Secret-123');
    expect(mailboxes).not.toContain('from-the-environment');
    expect(mailboxes).toContain(';env:SALES_PASSWORD;');
    const users = exportTable(USER_CSV, directory.snapshot(), ';');
    expect(users).toContain(`"'=HYPERLINK(""http://evil.example"",""click"")"`);
    expect(exportTable(GROUP_CSV, directory.snapshot(), ';')).toContain("'@channel;");
    expect(exportTable(GROUP_CSV, directory.snapshot(), ';')).toMatch(/;document;tiles\r\n/);

    // Ivan registers with the bot after the export: importing the old file must not unlink him
    const ivan = directory.snapshot().users.find((user) => user.phone === '+79991234567')!;
    await directory.setUserTelegramId(ivan.key, 7_770_001);
    const again = plan(USER_CSV, directory, users);
    expect(again.changes).toEqual([]);
    await applyImport(directory, (directory as unknown as { db: SqliteDatabase }).db, again, {
      commit: true,
    });
    expect(directory.snapshot().users.find((user) => user.key === ivan.key)?.telegramId).toBe(7_770_001);
  });
});

describe('import', () => {
  it('dry run: plans adds, changes and removals and changes nothing; --apply carries them out', async () => {
    const { db, sql, directory } = await populated();
    const before = JSON.stringify({ ...directory.snapshot(), loadedAt: '' });
    const csv = [
      'Name;Phone;Mailboxes;Active',
      // same person, other format, new name and one more mailbox; resumed
      'Иван Петров;+7 999 123 45 67;reports@example.com, sales@example.com;yes',
      'Анна;89990000001;SALES@example.com;',
      'Пётр;+7 999 000 00 02;reports@example.com;нет',
    ].join('\r\n');
    const result = plan(USER_CSV, directory, csv);
    expect(result.problems).toEqual([]);
    expect(result.adds.map((add) => [add.line, add.key])).toEqual([
      [3, '+79990000001'],
      [4, '+79990000002'],
    ]);
    expect(result.changes).toHaveLength(1);
    expect(result.changes[0]!.changes.map((change) => [change.column, change.from, change.to])).toEqual([
      ['Name', 'Иван "Ваня" Петров; отдел', 'Иван Петров'],
      ['Mailboxes', 'reports@example.com', 'reports@example.com sales@example.com'],
    ]);
    // the user not in the file goes
    expect(result.removes.map((user) => user.phone)).toEqual(['+79991234568']);

    const dry = await applyImport(directory, sql, result, {
      commit: false,
      inspect: async () => directory.snapshot().users.length,
    });
    expect(dry).toMatchObject({ committed: false, problems: [], inspected: 3 });
    expect(JSON.stringify({ ...directory.snapshot(), loadedAt: '' })).toBe(before);
    expect(db.prepare('SELECT count(*) AS n FROM users').get()).toEqual({ n: 2 });

    expect(await applyImport(directory, sql, result, { commit: true })).toMatchObject({
      committed: true,
      problems: [],
    });
    const users = directory
      .snapshot()
      .users.map((user) => [user.name, user.phone, user.mailboxes, !user.pausedByAdmin]);
    expect(users).toEqual([
      ['Иван Петров', '+79991234567', ['reports@example.com', 'sales@example.com'], true],
      ['Анна', '+79990000001', ['sales@example.com'], true],
      ['Пётр', '+79990000002', ['reports@example.com'], false],
    ]);
    // and the same file again is nothing to do
    const second = plan(USER_CSV, directory, csv);
    expect([second.adds.length, second.changes.length, second.removes.length]).toEqual([0, 0, 0]);
  });

  it('mailboxes: a new one needs a password, a blank one keeps the stored password, a written one replaces it', async () => {
    const { db, sql, directory } = await populated();
    const header = 'Email,Host,Password,Allowed senders';
    const missing = plan(
      MAILBOX_CSV,
      directory,
      `${header}\nreports@example.com,imap.example.com,,\nnew@example.com,imap.example.com,,\n`,
    );
    expect(missing.problems).toEqual([
      {
        line: 3,
        message:
          'Password: a new mailbox needs it (the password, or env:VARIABLE to read it from the environment), or the OAuth2 columns',
      },
    ]);
    const result = plan(
      MAILBOX_CSV,
      directory,
      `${header}\nREPORTS@example.com,imap.example.com,,"@bi.example.com superset@example.org"\nsales@example.com,imap.example.com,New-Secret-456,\n`,
    );
    expect(result.problems).toEqual([]);
    // reports: unchanged (blank password kept); columns not in the file keep their values
    expect(result.unchanged).toBe(1);
    const sales = result.changes[0]!;
    expect(sales.changes.map((change) => change.column)).toEqual(['Password']);
    expect(sales.changes[0]!.secret).toBe(true);
    await applyImport(directory, sql, result, { commit: true });
    const row = db
      .prepare('SELECT password, password_env, port, tls, login FROM mailboxes WHERE email = ?')
      .get('sales@example.com');
    expect(row).toEqual({
      password: 'New-Secret-456',
      password_env: null,
      port: 143,
      tls: 'starttls',
      login: 'sales-login',
    });
    expect(db.prepare('SELECT password FROM mailboxes WHERE email = ?').get('reports@example.com')).toEqual({
      password: 'Stored-Secret-123',
    });
  });

  it('lists every bad row with its line and plans nothing for them', async () => {
    const { directory } = await populated();
    const users = plan(
      USER_CSV,
      directory,
      [
        'Name;Phone;Mailboxes;Telegram ID',
        'A;+7 999 123-45-67;reports@example.com;',
        'B;8 999 123 45 67;reports@example.com;', // the same phone, written otherwise
        'C;12;reports@example.com;',
        'D;+79990000003;nobody@example.com;',
        'E;+79990000004;reports@example.com;5551234', // the paused user's Telegram ID (not in the file: removed)
        'F;+79990000005;reports@example.com;5551234',
        'G;+79990000006;reports@example.com;1,00123E+12',
        'H;+79990000007;;',
        'I;+79990000008;reports@example.com;;extra',
      ].join('\n'),
    );
    expect(users.problems).toEqual([
      { line: 3, message: 'Phone +79991234567 is also on line 2; each may appear once' },
      { line: 4, message: 'Phone: "12" is not a valid phone number' },
      {
        line: 5,
        message: 'Mailboxes: nobody@example.com: no such mailbox (import or add the mailboxes first)',
      },
      { line: 7, message: 'Telegram ID 5551234 is also on line 6; each may appear once' },
      {
        line: 8,
        message:
          'Telegram ID: "1,00123E+12" lost its digits to a spreadsheet; format the column as text and write the Telegram user id in full',
      },
      { line: 9, message: 'Mailboxes: a new user needs it (name at least one mailbox)' },
      { line: 10, message: '5 cells, but the header has 4 (a separator inside a cell needs quotes)' },
    ]);

    const mailboxes = plan(
      MAILBOX_CSV,
      directory,
      'Email,Host,Password,TLS,Port,Sender auth\nreports@example.com,h,,,,\nREPORTS@EXAMPLE.COM,h,,,,\nx@example.com,h,p,maybe,70000,sometimes\n',
    );
    expect(mailboxes.problems).toEqual([
      { line: 3, message: 'Email reports@example.com is also on line 2; each may appear once' },
      // in the file's column order
      { line: 4, message: 'TLS: "maybe" is not tls, starttls or none' },
      { line: 4, message: 'Port: 70000 is not a TCP port (1–65535)' },
      {
        line: 4,
        message:
          'Sender auth: "sometimes" is not off, dkim, authentication-results or authentication-results:<authserv-id>',
      },
    ]);

    const groups = plan(
      GROUP_CSV,
      directory,
      'Name,Mailboxes,Telegram ID,Locked\nBI team,sales@example.com,-100500,no\nNew,sales@example.com,,yes\n',
    );
    expect(groups.problems.map((problem) => problem.line)).toEqual([2, 3]);
    expect(groups.problems[0]!.message).toContain('locked to it');
  });

  it('a Telegram ID kept from the directory (blank cell) counts against one written on another row', async () => {
    const { directory } = await populated();
    const result = plan(
      USER_CSV,
      directory,
      'Name,Phone,Mailboxes,Telegram ID\nHolder,+7 999 123-45-68,reports@example.com,\nTaker,+7 999 123-45-67,reports@example.com,5551234\n',
    );
    expect(result.problems).toEqual([
      {
        line: 3,
        message: 'Telegram ID 5551234 is also on line 2; each may appear once',
      },
    ]);
  });

  it('refuses a header with unknown or missing columns, naming the expected ones', async () => {
    const { directory } = await populated();
    expect(() => plan(USER_CSV, directory, 'Name,Phone,Mailbox\n')).toThrow(CsvHeaderError);
    expect(() => plan(USER_CSV, directory, 'Name,Phone,Mailbox\n')).toThrow(
      'unknown column "Mailbox" in the header; the Users columns are: Name, Phone, Mailboxes, Telegram ID, Active (required: Name, Phone, Mailboxes)',
    );
    expect(() => plan(GROUP_CSV, directory, 'Name,Telegram ID\n')).toThrow('the header lacks "Mailboxes"');
    expect(() => plan(MAILBOX_CSV, directory, 'email,HOST,host\n')).toThrow('column "Host" appears twice');
  });

  it('a row the directory refuses while applying rolls the whole import back', async () => {
    const { sql, directory } = await populated();
    class RefusingDirectory extends LocalDirectory {
      override addUser(input: NewUser) {
        if (input.name === 'Refused') throw new Error('refused for the test');
        return super.addUser(input);
      }
    }
    const refusing = new RefusingDirectory(sql, { phoneRegion: 'RU', pollIntervalMs: 0 });
    await refusing.start();
    const before = JSON.stringify({ ...refusing.snapshot(), loadedAt: '' });
    const result = plan(
      USER_CSV,
      refusing,
      'Name,Phone,Mailboxes\nFirst,+79990000011,reports@example.com\nRefused,+79990000012,reports@example.com\n',
    );
    expect(result.problems).toEqual([]);
    const outcome = await applyImport(refusing, sql, result, { commit: true });
    expect(outcome).toMatchObject({
      committed: false,
      problems: [{ line: 3, message: 'refused for the test' }],
    });
    // the removals and the first add are undone too
    expect(JSON.stringify({ ...refusing.snapshot(), loadedAt: '' })).toBe(before);
    await directory.refresh();
    expect(directory.snapshot().users.map((user) => user.phone)).toEqual(['+79991234567', '+79991234568']);
  });
});

/** A webhook-only mailbox and two OAuth2 ones (refresh-token and client-credentials grants). */
async function withOtherLogins() {
  const w = await world({
    M365_SECRET: 'm365-client-secret-value',
    G_SECRET: 'g-secret',
    G_REFRESH: 'g-refresh',
  });
  const { directory } = w;
  await directory.addMailbox({
    email: 'hook@example.com',
    webhookOnly: true,
    mediaMode: 'document',
    tallImageMode: 'tiles',
  });
  await directory.addMailbox({
    email: 'm365@example.com',
    host: 'outlook.office365.com',
    oauth2: {
      tokenUrl: 'https://login.microsoftonline.com/tenant-1/oauth2/v2.0/token',
      clientId: 'app-1',
      clientSecretEnv: 'M365_SECRET',
    },
    senderAuth: 'dkim',
  });
  await directory.addMailbox({
    email: 'google@example.com',
    host: 'imap.gmail.com',
    oauth2: {
      tokenUrl: 'https://oauth2.googleapis.com/token',
      clientId: 'google-client',
      clientSecretEnv: 'G_SECRET',
      scope: 'https://mail.google.com/',
      refreshTokenEnv: 'G_REFRESH',
    },
    tallImageMode: 'tiles+document',
  });
  await directory.addMailbox({
    email: 'plain@example.com',
    host: 'imap.example.com',
    passwordEnv: 'PLAIN_PW',
  });
  return w;
}

/** The mailboxes as the bot sees them, without what a new row cannot keep (row id, when added). */
const mailboxState = (directory: LocalDirectory) =>
  directory.snapshot().mailboxes.map(({ key: _key, addedAt: _addedAt, ...mailbox }) => mailbox);

/** An export made before the OAuth2 columns existed (and before Sender auth and Tall image mode). */
const OLD_HEADER = 'Email;Host;Port;TLS;Login;Password;Folder;Allowed senders;Active;Media mode;Mark seen';

describe('webhook-only and OAuth2 mailboxes', () => {
  it('export, then import into an empty directory, gives the same mailboxes; no secret is written', async () => {
    const { directory } = await withOtherLogins();
    for (const separator of [';', ','] as const) {
      const text = exportTable(MAILBOX_CSV, directory.snapshot(), separator);
      const s = separator;
      expect(text).not.toMatch(/m365-client-secret-value|g-secret|g-refresh/);
      // the webhook-only mailbox: blank Host and IMAP columns, its delivery settings kept
      expect(text).toContain(`hook@example.com${s}${s}${s}${s}${s}${s}${s}${s}yes${s}document${s}`);
      expect(text).toContain(
        `${s}https://oauth2.googleapis.com/token${s}google-client${s}env:G_SECRET${s}https://mail.google.com/${s}env:G_REFRESH${s}tiles+document`,
      );
      expect(text).toContain(
        `${s}dkim${s}https://login.microsoftonline.com/tenant-1/oauth2/v2.0/token${s}app-1${s}env:M365_SECRET${s}${s}${s}`,
      );
      // read back: nothing to do
      const same = plan(MAILBOX_CSV, directory, text);
      expect(same.problems).toEqual([]);
      expect([same.adds.length, same.changes.length, same.removes.length, same.unchanged]).toEqual([
        0, 0, 0, 4,
      ]);

      const empty = await world({
        M365_SECRET: 'm365-client-secret-value',
        G_SECRET: 'g-secret',
        G_REFRESH: 'g-refresh',
      });
      const into = plan(MAILBOX_CSV, empty.directory, text);
      expect(into.problems).toEqual([]);
      expect(await applyImport(empty.directory, empty.sql, into, { commit: true })).toMatchObject({
        committed: true,
        problems: [],
      });
      expect(mailboxState(empty.directory)).toEqual(mailboxState(directory));
      const hook = empty.directory.snapshot().mailboxes.find((m) => m.email === 'hook@example.com')!;
      expect(hook.host).toBe('');
      expect(
        empty.directory.snapshot().mailboxes.find((m) => m.email === 'google@example.com')?.oauth2,
      ).toMatchObject({
        clientSecret: 'g-secret',
        refreshToken: 'g-refresh',
        refreshTokenSource: 'env:G_REFRESH',
      });
    }
  });

  it('an older file without the OAuth2 columns keeps the OAuth2 settings; a Password written for such a mailbox is a bad row', async () => {
    const { sql, directory } = await withOtherLogins();
    const before = mailboxState(directory);
    const rows = [
      'hook@example.com;;;;;;;;yes;document;',
      'm365@example.com;outlook.office365.com;993;tls;m365@example.com;;INBOX;;yes;;',
      'google@example.com;imap.gmail.com;993;tls;google@example.com;;INBOX;;yes;;',
      'plain@example.com;imap.example.com;993;tls;plain@example.com;env:PLAIN_PW;INBOX;;yes;;',
    ];
    const old = plan(MAILBOX_CSV, directory, [OLD_HEADER, ...rows].join('\n'));
    expect(old.problems).toEqual([]);
    expect(old.absentColumns).toEqual([
      'Sender auth',
      'OAuth2 token URL',
      'OAuth2 client ID',
      'OAuth2 client secret',
      'OAuth2 scope',
      'OAuth2 refresh token',
      'Tall image mode',
    ]);
    expect([old.adds.length, old.changes.length, old.removes.length, old.unchanged]).toEqual([0, 0, 0, 4]);
    await applyImport(directory, sql, old, { commit: true });
    expect(mailboxState(directory)).toEqual(before);

    // the same file from the days m365 had a password: never a silent switch away from OAuth2
    rows[1] = 'm365@example.com;outlook.office365.com;993;tls;m365@example.com;env:OLD_PW;INBOX;;yes;;';
    const stale = plan(MAILBOX_CSV, directory, [OLD_HEADER, ...rows].join('\n'));
    expect(stale.problems).toEqual([
      {
        line: 3,
        message:
          'Password: m365@example.com logs in with OAuth2, and the file has no OAuth2 columns (so they are kept); to switch it to a password, add the OAuth2 columns and leave them blank; to keep OAuth2, leave Password blank',
      },
    ]);
  });

  it('bad rows: IMAP columns of a webhook-only row, a literal OAuth2 secret, Password with OAuth2, incomplete OAuth2', async () => {
    const { directory } = await withOtherLogins();
    const header =
      'Email,Host,Port,Password,Folder,Sender auth,OAuth2 token URL,OAuth2 client ID,OAuth2 client secret,OAuth2 refresh token';
    const token = 'https://login.example.com/token';
    const result = plan(
      MAILBOX_CSV,
      directory,
      [
        header,
        'hook@example.com,,993,,INBOX,dkim,,,,',
        'new-hook@example.com,,,env:PW,,,,,,',
        `m365@example.com,outlook.office365.com,,,,,${token},app-1,Literal-Client-Secret-1,`,
        `google@example.com,imap.gmail.com,,,,,${token},c,env:G_SECRET,Literal-Refresh-Token-2`,
        `plain@example.com,imap.example.com,,env:PLAIN_PW,,,${token},app-2,env:S,`,
        `new@example.com,imap.example.com,,,,,${token},,env:S,`,
        'new2@example.com,imap.example.com,,,,,http://login.example.com/token,app,env:S,',
      ].join('\n'),
    );
    expect(result.problems).toEqual([
      {
        line: 2,
        message:
          "Port, Folder, Sender auth: not for a webhook-only mailbox (the Host is empty: no IMAP; the webhook URL's token proves the sender); leave them blank, or write the Host",
      },
      {
        line: 3,
        message:
          "Password: not for a webhook-only mailbox (the Host is empty: no IMAP; the webhook URL's token proves the sender); leave them blank, or write the Host",
      },
      {
        line: 4,
        message:
          "OAuth2 client secret: must be env:VARIABLE, the environment variable holding the secret; a secret itself is never imported (put it in the bot's environment)",
      },
      {
        line: 5,
        message:
          "OAuth2 refresh token: must be env:VARIABLE, the environment variable holding the secret; a secret itself is never imported (put it in the bot's environment)",
      },
      {
        line: 6,
        message:
          'Password and the OAuth2 columns are both filled, but a mailbox logs in one way: leave Password blank for OAuth2, or the OAuth2 columns blank for a password',
      },
      {
        line: 7,
        message:
          'OAuth2 client ID: empty, but the mailbox has OAuth2 settings; OAuth2 needs the token URL, the client ID and the client secret (env:VARIABLE) together',
      },
      { line: 8, message: 'OAuth2 token URL: the token endpoint must be an https:// URL' },
    ]);
    expect(JSON.stringify(result.problems)).not.toMatch(/Literal-/);
    // (the removals of the mailboxes the file leaves out would be planned, but nothing is applied)
  });

  it("a blank Host does not drop an IMAP mailbox's settings", async () => {
    const { directory } = await withOtherLogins();
    const result = plan(MAILBOX_CSV, directory, 'Email;Host\nplain@example.com;\n');
    expect(result.problems).toEqual([
      {
        line: 2,
        message:
          'Host: is empty (a webhook-only mailbox), but plain@example.com is an IMAP mailbox; an import does not drop its IMAP settings: write its Host, or remove the mailbox (mailbox remove) and add it with --webhook-only',
      },
    ]);
  });

  it('switches written in the file: webhook-only to IMAP, password to OAuth2, OAuth2 to password', async () => {
    const { db, sql, directory } = await withOtherLogins();
    const text = exportTable(MAILBOX_CSV, directory.snapshot(), ',');
    const [header, ...rows] = text.trimEnd().split('\r\n');
    const row = (email: string) => rows.find((line) => line.startsWith(`${email},`))!;
    const edited = [
      header,
      // webhook-only gets IMAP; m365 goes back to a password (its OAuth2 cells emptied); plain to OAuth2
      'hook@example.com,imap.example.com,,,,env:HOOK_PW,,,yes,document,,,,,,,,tiles',
      'm365@example.com,outlook.office365.com,993,tls,m365@example.com,env:M365_PW,INBOX,,yes,,,dkim,,,,,,',
      row('google@example.com'),
      `plain@example.com,imap.example.com,993,tls,plain@example.com,,INBOX,,yes,,,,https://login.example.com/token,app-9,env:PLAIN_SECRET,,,`,
    ].join('\n');
    const result = plan(MAILBOX_CSV, directory, edited);
    expect(result.problems).toEqual([]);
    expect(result.changes.map((change) => [change.entry.email, change.changes.map((c) => c.column)])).toEqual(
      [
        ['hook@example.com', ['Host', 'Port', 'TLS', 'Login', 'Password', 'Folder']],
        ['m365@example.com', ['Password', 'OAuth2 token URL', 'OAuth2 client ID', 'OAuth2 client secret']],
        ['plain@example.com', ['Password', 'OAuth2 token URL', 'OAuth2 client ID', 'OAuth2 client secret']],
      ],
    );
    expect(await applyImport(directory, sql, result, { commit: true })).toMatchObject({
      committed: true,
      problems: [],
    });
    const byEmail = (email: string) => directory.snapshot().mailboxes.find((m) => m.email === email)!;
    expect(byEmail('hook@example.com')).toMatchObject({
      host: 'imap.example.com',
      port: 993,
      tls: 'tls',
      passwordSource: 'env:HOOK_PW',
      tallImageMode: 'tiles',
      mediaMode: 'document',
    });
    expect(byEmail('m365@example.com').oauth2).toBeUndefined();
    expect(byEmail('m365@example.com').passwordSource).toBe('env:M365_PW');
    expect(byEmail('plain@example.com').oauth2).toMatchObject({
      tokenUrl: 'https://login.example.com/token',
      clientId: 'app-9',
      clientSecretSource: 'env:PLAIN_SECRET',
      refreshTokenSource: null,
    });
    expect(
      db.prepare('SELECT password, password_env FROM mailboxes WHERE email = ?').get('plain@example.com'),
    ).toEqual({
      password: null,
      password_env: null,
    });
    // and the new state reads back unchanged
    const again = plan(MAILBOX_CSV, directory, exportTable(MAILBOX_CSV, directory.snapshot(), ';'));
    expect([again.problems.length, again.changes.length, again.unchanged]).toEqual([0, 0, 4]);
  });

  it('Tall image mode and Sender auth are read, changed and reset', async () => {
    const { sql, directory } = await withOtherLogins();
    const result = plan(
      MAILBOX_CSV,
      directory,
      [
        'Email;Host;Sender auth;Tall image mode',
        'hook@example.com;;;',
        'm365@example.com;outlook.office365.com;authentication-results:mx.example.com;tiles',
        'google@example.com;imap.gmail.com;;',
        'plain@example.com;imap.example.com;off;Tiles+Document',
      ].join('\n'),
    );
    expect(result.problems).toEqual([]);
    await applyImport(directory, sql, result, { commit: true });
    const state = Object.fromEntries(
      directory.snapshot().mailboxes.map((m) => [m.email, [m.senderAuth ?? null, m.tallImageMode ?? null]]),
    );
    expect(state).toEqual({
      'hook@example.com': [null, null],
      'm365@example.com': [{ mode: 'authentication-results', authservId: 'mx.example.com' }, 'tiles'],
      'google@example.com': [null, null],
      'plain@example.com': [{ mode: 'off', authservId: null }, 'tiles+document'],
    });
    const bad = plan(
      MAILBOX_CSV,
      directory,
      'Email;Host;Sender auth;Tall image mode\nplain@example.com;imap.example.com;spf;huge\n',
    );
    expect(bad.problems.map((problem) => problem.message)).toEqual([
      'Sender auth: "spf" is not off, dkim, authentication-results or authentication-results:<authserv-id>',
      expect.stringMatching(/^Tall image mode: "huge" is not /),
    ]);
  });
});

// the import is one transaction on either engine: the CLI imports into PostgreSQL too
forEachEngine('an import (one transaction)', (engine) => {
  it('rolls back as a whole when the directory refuses a row, and commits what it accepts', async () => {
    const db = engine.current();
    if (db.engine === 'postgres') await ensureDirectoryVersion(db);
    class RefusingDirectory extends LocalDirectory {
      override addUser(input: NewUser) {
        if (input.name === 'Refused') throw new DirectoryInputError('refused for the test');
        return super.addUser(input);
      }
    }
    const directory = new RefusingDirectory(db, { phoneRegion: 'RU', pollIntervalMs: 0 });
    await directory.start();
    await directory.addMailbox({ email: 'reports@example.com', host: 'imap.example.com', password: 'pw' });
    await directory.addUser({ name: 'Old', phone: '+79990000010', mailboxes: ['reports@example.com'] });
    const refused = plan(
      USER_CSV,
      directory,
      'Name,Phone,Mailboxes\nFirst,+79990000011,reports@example.com\nRefused,+79990000012,reports@example.com\n',
    );
    // the removal of Old and the first add are undone with the refused row
    expect(refused.problems).toEqual([]);
    expect(await applyImport(directory, db, refused, { commit: true })).toMatchObject({
      committed: false,
      problems: [{ line: 3, message: 'refused for the test' }],
    });
    const reader = new LocalDirectory(db, { phoneRegion: 'RU', pollIntervalMs: 0 });
    await reader.start();
    expect(reader.snapshot().users.map((user) => user.name)).toEqual(['Old']);
    expect(directory.snapshot().users.map((user) => user.name)).toEqual(['Old']);

    const accepted = plan(
      USER_CSV,
      directory,
      'Name,Phone,Mailboxes\nFirst,+79990000011,reports@example.com\n',
    );
    expect(await applyImport(directory, db, accepted, { commit: true })).toMatchObject({
      committed: true,
      problems: [],
    });
    await reader.refresh();
    expect(reader.snapshot().users.map((user) => user.name)).toEqual(['First']);
  });
});
