/**
 * `mailbox add/edit/list` with the `--oauth2-*` options, through the built CLI: both grants, the
 * errors an admin makes, and no secret in any output (secrets are only named, as variables).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { removeDir, tempDataDir } from '../support/bot-harness.js';
import { runCli } from '../support/bot-process.js';

const dataDir = tempDataDir();
afterAll(() => removeDir(dataDir));

const SECRETS = { M365_SECRET: 'm365-client-secret-value', GOOGLE_REFRESH: '1//google-refresh-value' };

function cli(...args: string[]) {
  return runCli(args, { DATA_DIR: dataDir, ...SECRETS });
}

const TOKEN_URL = 'https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token';

describe('mailbox commands with OAuth2', () => {
  it('adds, lists and edits OAuth2 mailboxes without showing a secret', async () => {
    const m365 = await cli(
      'mailbox',
      'add',
      'reports@contoso.com',
      '--host',
      'outlook.office365.com',
      '--oauth2-token-url',
      TOKEN_URL,
      '--oauth2-client-id',
      'app-1',
      '--oauth2-client-secret-env',
      'M365_SECRET',
      '--allow-from',
      '@contoso.com',
    );
    expect(m365.stderr).toBe('');
    expect(m365.stdout).toContain(
      'mailbox reports@contoso.com added (outlook.office365.com:993, tls, folder INBOX, oauth2 client credentials (env:M365_SECRET))',
    );
    const google = await cli(
      'mailbox',
      'add',
      'reports@example.com',
      '--host',
      'imap.gmail.com',
      '--oauth2-token-url',
      'https://oauth2.googleapis.com/token',
      '--oauth2-client-id',
      'app-2',
      '--oauth2-client-secret-env',
      'M365_SECRET',
      '--oauth2-scope',
      'https://mail.google.com/',
      '--oauth2-refresh-token-env',
      'GOOGLE_REFRESH',
    );
    expect(google.code).toBe(0);
    const list = await cli('mailbox', 'list');
    expect(list.stdout).toContain('oauth2 client credentials (env:M365_SECRET)');
    expect(list.stdout).toContain('oauth2 refresh token (env:M365_SECRET, env:GOOGLE_REFRESH)');
    const json = await cli('mailbox', 'list', '--json');
    const rows = JSON.parse(json.stdout) as Array<{ email: string; oauth2: Record<string, unknown> | null }>;
    expect(rows.find((row) => row.email === 'reports@example.com')!.oauth2).toEqual({
      tokenUrl: 'https://oauth2.googleapis.com/token',
      clientId: 'app-2',
      clientSecretSource: 'env:M365_SECRET',
      scope: 'https://mail.google.com/',
      refreshTokenSource: 'env:GOOGLE_REFRESH',
    });
    for (const output of [m365, google, list, json]) {
      for (const secret of Object.values(SECRETS))
        expect(output.stdout + output.stderr).not.toContain(secret);
    }
    // back to a password, and to OAuth2 again
    expect((await cli('mailbox', 'edit', 'reports@contoso.com', '--password-env', 'IMAP_PW')).code).toBe(0);
    expect((await cli('mailbox', 'list')).stdout).not.toContain('oauth2 client credentials');
    const again = await cli(
      'mailbox',
      'edit',
      'reports@contoso.com',
      '--oauth2-token-url',
      TOKEN_URL,
      '--oauth2-client-id',
      'app-1',
      '--oauth2-client-secret-env',
      'M365_SECRET',
    );
    expect(again.code).toBe(0);
    expect((await cli('mailbox', 'list')).stdout).toContain('oauth2 client credentials (env:M365_SECRET)');
  });

  it('says what is wrong with the OAuth2 options', async () => {
    const add = (...extra: string[]) => cli('mailbox', 'add', 'x@example.com', '--host', 'h', ...extra);
    expect((await add('--oauth2-token-url', TOKEN_URL)).stderr).toContain(
      'OAuth2 needs --oauth2-token-url, --oauth2-client-id and --oauth2-client-secret-env together',
    );
    const withBoth = await add(
      '--password',
      'pw-secret-1',
      '--oauth2-token-url',
      TOKEN_URL,
      '--oauth2-client-id',
      'a',
      '--oauth2-client-secret-env',
      'S',
    );
    expect(withBoth.stderr).toContain('an OAuth2 mailbox takes no --password or --password-env');
    const plainHttp = await add(
      '--oauth2-token-url',
      'http://idp.example.com/token',
      '--oauth2-client-id',
      'a',
      '--oauth2-client-secret-env',
      'S',
    );
    expect(plainHttp.stderr).toContain('--oauth2-token-url: the token endpoint must be an https:// URL');
    const badVariable = await add(
      '--oauth2-token-url',
      TOKEN_URL,
      '--oauth2-client-id',
      'a',
      '--oauth2-client-secret-env',
      'not a variable',
    );
    expect(badVariable.stderr).toContain(
      '--oauth2-client-secret-env: "not a variable" is not an environment variable name',
    );
    expect((await add('--password-env', 'P')).code).toBe(0);
  });
});
