/**
 * `mailbox add|list|remove|pause|resume|edit`: the technical mailboxes of the embedded directory.
 */
import { type Command, Option } from 'commander';
import type { MediaMode, TallImageMode } from '../core/message-plan.js';
import { isWebhookOnly, type MailboxEntry, type TlsMode } from '../directory/directory.js';
import type { OAuth2Input } from '../directory/oauth2-settings.js';
import { SHORT_SECRET_LENGTH } from '../observability/secret-scrubber.js';
import {
  collect,
  config,
  integer,
  localDirectory,
  mediaModeOption,
  printTable,
  scrubber,
  tallImageModeOption,
  UsageError,
} from './command-options.js';
import { registerDirectoryFileCommands } from './directory-file-commands.js';

/**
 * `mailbox add --webhook-only`: a mailbox whose reports come only through Superset's webhook. The
 * directory refuses the IMAP options given with it; the CLI adds the ones with defaults (--folder, TLS).
 */
async function addWebhookOnlyMailbox(
  email: string,
  options: Record<string, unknown> & { allowFrom: string[] },
  command: Command,
): Promise<void> {
  const imapOnly: Array<[string, string]> = [
    ['tls', '--tls'],
    ['starttls', '--starttls'],
    ['folder', '--folder'],
    ['oauth2TokenUrl', '--oauth2-token-url'],
    ['oauth2ClientId', '--oauth2-client-id'],
    ['oauth2ClientSecretEnv', '--oauth2-client-secret-env'],
    ['oauth2Scope', '--oauth2-scope'],
    ['oauth2RefreshTokenEnv', '--oauth2-refresh-token-env'],
  ];
  const given = imapOnly.filter(([name]) => command.getOptionValueSource(name) === 'cli');
  if (given.length > 0) throw new UsageError(`${given[0]![1]}: not for a --webhook-only mailbox (no IMAP)`);
  const added = await (await localDirectory(config())).addMailbox({
    email,
    webhookOnly: true,
    host: options.host as string | undefined,
    port: options.port as number | undefined,
    login: options.login as string | undefined,
    password: options.password as string | undefined,
    passwordEnv: options.passwordEnv as string | undefined,
    allowFrom: options.allowFrom.length > 0 ? options.allowFrom : undefined,
    mediaMode: options.mediaMode as MediaMode | undefined,
    tallImageMode: options.tallImageMode as TallImageMode | undefined,
    markSeen: options.markSeen as boolean | undefined,
    senderAuth: options.senderAuth as string | undefined,
  });
  console.log(
    `mailbox ${added.email} added (webhook only: no IMAP); its URL: superset-telegram-bot webhook url ${added.email}`,
  );
}

/** The `--oauth2-*` options of `mailbox add` and `mailbox edit` (docs/mailboxes.md). */
function withOAuth2Options(command: Command): Command {
  return command
    .option('--oauth2-token-url <url>', 'log in with OAuth2 (XOAUTH2): the token endpoint (https)')
    .option('--oauth2-client-id <id>', 'OAuth2: the app (client) id')
    .option(
      '--oauth2-client-secret-env <VAR>',
      'OAuth2: read the client secret from this environment variable',
    )
    .option(
      '--oauth2-scope <scope>',
      'OAuth2: the scope (default with the client credentials grant: https://outlook.office365.com/.default)',
    )
    .option(
      '--oauth2-refresh-token-env <VAR>',
      'OAuth2: use the refresh-token grant with the refresh token in this environment variable (default: the client credentials grant)',
    );
}

/** The OAuth2 settings given on the command line; undefined when none of them is. */
function oauth2Input(options: Record<string, string | undefined>): OAuth2Input | undefined {
  const { oauth2TokenUrl, oauth2ClientId, oauth2ClientSecretEnv, oauth2Scope, oauth2RefreshTokenEnv } =
    options;
  const given = [oauth2TokenUrl, oauth2ClientId, oauth2ClientSecretEnv, oauth2Scope, oauth2RefreshTokenEnv];
  if (given.every((value) => value === undefined)) return undefined;
  if (!oauth2TokenUrl || !oauth2ClientId || !oauth2ClientSecretEnv) {
    throw new UsageError(
      'OAuth2 needs --oauth2-token-url, --oauth2-client-id and --oauth2-client-secret-env together',
    );
  }
  return {
    tokenUrl: oauth2TokenUrl,
    clientId: oauth2ClientId,
    clientSecretEnv: oauth2ClientSecretEnv,
    scope: oauth2Scope ?? null,
    refreshTokenEnv: oauth2RefreshTokenEnv ?? null,
  };
}

/** How a mailbox logs in, for the list: where its password or OAuth2 secrets come from. */
function loginMethod(mailbox: MailboxEntry): string {
  if (!mailbox.oauth2) return mailbox.passwordSource;
  const { refreshTokenSource, clientSecretSource } = mailbox.oauth2;
  return refreshTokenSource
    ? `oauth2 refresh token (${clientSecretSource}, ${refreshTokenSource})`
    : `oauth2 client credentials (${clientSecretSource})`;
}

export function registerMailboxCommands(program: Command): void {
  const mailbox = program.command('mailbox').description('technical mailboxes (embedded directory)');
  const add = mailbox
    .command('add')
    .description('add a mailbox to listen to')
    .argument('<email>', 'the mailbox address (also the default login)')
    .option('--host <host>', 'IMAP server (required unless --webhook-only)')
    .option(
      '--webhook-only',
      "no IMAP: reports come only through Superset's webhook (see `webhook url`); no other IMAP option applies",
    )
    .option('--port <port>', 'IMAP port (default 993 with TLS, 143 otherwise)', integer)
    .option('--tls', 'implicit TLS (the default)')
    .option('--starttls', 'plain connection upgraded with STARTTLS (required)')
    .option('--no-tls', 'no encryption at all (only for a server on the same host)')
    .option('--login <login>', 'IMAP login (default: the address)')
    .option('--password <password>', 'IMAP password, stored in the database')
    .option('--password-env <VAR>', 'read the IMAP password from this environment variable instead')
    .option('--folder <folder>', 'folder to watch', 'INBOX')
    .option('--allow-from <pattern>', 'allowed sender: an address or @domain (repeatable)', collect, [])
    .addOption(mediaModeOption())
    .addOption(tallImageModeOption())
    .option('--mark-seen', 'mark processed mails \\Seen')
    .option(
      '--sender-auth <rule>',
      'how mail proves its From: off, dkim, authentication-results or authentication-results:<authserv-id> (default: SENDER_AUTH)',
    );
  withOAuth2Options(add).action(async (email: string, options, command: Command) => {
    const cfg = config();
    scrubber.add(options.password);
    if (options.webhookOnly) {
      await addWebhookOnlyMailbox(email, options, command);
      return;
    }
    const tls: TlsMode = options.starttls ? 'starttls' : options.tls === false ? 'none' : 'tls';
    const added = await (await localDirectory(cfg)).addMailbox({
      email,
      host: options.host,
      port: options.port,
      tls,
      login: options.login,
      password: options.password,
      passwordEnv: options.passwordEnv,
      folder: options.folder,
      allowFrom: options.allowFrom,
      mediaMode: options.mediaMode as MediaMode | undefined,
      tallImageMode: options.tallImageMode as TallImageMode | undefined,
      markSeen: options.markSeen,
      senderAuth: options.senderAuth,
      oauth2: oauth2Input(options),
    });
    console.log(
      `mailbox ${added.email} added (${added.host}:${added.port}, ${added.tls}, folder ${added.folder}${added.oauth2 ? `, ${loginMethod(added)}` : ''})`,
    );
    if (typeof options.password === 'string' && options.password.length < SHORT_SECRET_LENGTH) {
      console.log(
        `warning: the IMAP password is shorter than ${SHORT_SECRET_LENGTH} characters: easy to guess, and too short to be masked reliably if some other program logs it`,
      );
    }
    if (added.allowFrom.length === 0) {
      console.log('warning: no --allow-from: mail from any sender will be forwarded');
    }
  });
  mailbox
    .command('list')
    .description('list mailboxes (passwords are never shown)')
    .option('--json', 'JSON output')
    .action(async (options: { json?: boolean }) => {
      const rows = (await localDirectory(config()))
        .snapshot()
        // secrets never leave: the OAuth2 ones are shown by where they come from, like the password
        .mailboxes.map(({ password: _secret, key: _key, ...mailbox }) => ({
          ...mailbox,
          oauth2: mailbox.oauth2
            ? { ...mailbox.oauth2, clientSecret: undefined, refreshToken: undefined }
            : undefined,
        }));
      if (options.json) console.log(JSON.stringify(rows, null, 2));
      else
        printTable(
          rows.map((row) => ({
            email: row.email,
            server: isWebhookOnly(row) ? '(webhook only)' : `${row.host}:${row.port}`,
            tls: isWebhookOnly(row) ? '' : row.tls,
            login: isWebhookOnly(row) ? '' : row.login,
            password: isWebhookOnly(row) ? '' : loginMethod(row as MailboxEntry),
            folder: isWebhookOnly(row) ? '' : row.folder,
            'allowed senders': isWebhookOnly(row) ? '' : row.allowFrom.join(' ') || '(anyone)',
            // blank in the directory: TALL_IMAGE_MODE
            'tall images': row.tallImageMode ?? '(setting)',
            state: row.active ? 'active' : 'paused (admin)',
          })),
        );
    });
  mailbox
    .command('remove')
    .description('remove a mailbox (its subscriptions go with it)')
    .argument('<email>')
    .action(async (email: string) => {
      await (await localDirectory(config())).removeMailbox(email);
      console.log(`mailbox ${email} removed`);
    });
  for (const paused of [true, false]) {
    mailbox
      .command(paused ? 'pause' : 'resume')
      .description(
        paused
          ? 'stop reading a mailbox (mail that arrives meanwhile waits on the server)'
          : 'read a paused mailbox again',
      )
      .argument('<email>')
      .action(async (email: string) => {
        const entry = await (await localDirectory(config())).setMailboxPaused(email, paused);
        console.log(`mailbox ${entry.email} ${paused ? 'paused' : 'resumed'}`);
      });
  }
  const edit = mailbox
    .command('edit')
    .description('change a mailbox in place (what is not given stays)')
    .argument('<email>')
    .option('--host <host>', 'IMAP server')
    .option('--port <port>', 'IMAP port', integer)
    .addOption(new Option('--tls-mode <mode>', 'tls, starttls or none').choices(['tls', 'starttls', 'none']))
    .option('--login <login>', 'IMAP login')
    .option('--password <password>', 'IMAP password, stored in the database')
    .option('--password-env <VAR>', 'read the IMAP password from this environment variable instead')
    .option('--folder <folder>', 'folder to watch')
    .option('--allow-from <pattern>', 'allowed sender, replaces the list (repeatable)', collect)
    .option('--allow-anyone', 'clear the allowed senders: mail from anyone is forwarded')
    .addOption(mediaModeOption())
    .option('--default-media-mode', 'go back to MEDIA_MODE')
    .addOption(tallImageModeOption())
    .option('--default-tall-image-mode', 'go back to TALL_IMAGE_MODE')
    .option('--mark-seen', 'mark processed mails \\Seen')
    .option('--no-mark-seen', 'leave processed mails unseen');
  withOAuth2Options(edit).action(async (email: string, options) => {
    scrubber.add(options.password);
    if (options.allowFrom && options.allowAnyone)
      throw new UsageError('give --allow-from or --allow-anyone, not both');
    const entry = await (await localDirectory(config())).editMailbox(email, {
      host: options.host,
      port: options.port,
      tls: options.tlsMode as TlsMode | undefined,
      login: options.login,
      password: options.password,
      passwordEnv: options.passwordEnv,
      folder: options.folder,
      allowFrom: options.allowAnyone ? [] : options.allowFrom,
      mediaMode: options.defaultMediaMode ? null : (options.mediaMode as MediaMode | undefined),
      tallImageMode: options.defaultTallImageMode
        ? null
        : (options.tallImageMode as TallImageMode | undefined),
      markSeen: options.markSeen,
      oauth2: oauth2Input(options),
    });
    console.log(
      `mailbox ${entry.email} changed (${entry.host}:${entry.port}, ${entry.tls}, folder ${entry.folder})`,
    );
  });
  registerDirectoryFileCommands(mailbox, 'mailbox');
}
