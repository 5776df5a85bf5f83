/**
 * SeaTable's optional OAuth2 columns of the Mailboxes table: secrets only as env:VAR references,
 * bad rows left out with a warning while the other mailboxes stay, and no secret in the saved copy.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { directorySeed, type SeaTableDirectoryHarness, seaTableHarness } from './directory-worlds.js';

const harnesses: SeaTableDirectoryHarness[] = [];
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((harness) => harness.close()));
});

const OAUTH2_COLUMNS = [
  'OAuth2 token URL',
  'OAuth2 client ID',
  'OAuth2 client secret',
  'OAuth2 scope',
  'OAuth2 refresh token',
].map((name) => ({ name, type: 'text' as const }));

const TOKEN_URL = 'https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token';

async function harnessWithOAuth2Columns(): Promise<SeaTableDirectoryHarness> {
  const seed = directorySeed({ mailboxes: [], users: [], groups: [] });
  seed.tables![0]!.columns!.push(...OAUTH2_COLUMNS);
  const made = await seaTableHarness({ seed });
  harnesses.push(made);
  return made;
}

describe('SeaTable: OAuth2 mailboxes', () => {
  it('reads both grants with env:VAR secrets; bad rows are left out alone, with a warning each', async () => {
    const h = await harnessWithOAuth2Columns();
    const base = { Host: 'outlook.office365.com', Active: true };
    h.fake.seedRows('Mailboxes', [
      {
        ...base,
        Email: 'm365@example.com',
        'OAuth2 token URL': TOKEN_URL,
        'OAuth2 client ID': 'app-1',
        'OAuth2 client secret': 'env:M365_SECRET',
      },
      {
        ...base,
        Email: 'google@example.com',
        Host: 'imap.gmail.com',
        'OAuth2 token URL': 'https://oauth2.googleapis.com/token',
        'OAuth2 client ID': 'app-2.apps.googleusercontent.com',
        'OAuth2 client secret': 'env:GOOGLE_SECRET',
        'OAuth2 scope': 'https://mail.google.com/',
        'OAuth2 refresh token': 'env:GOOGLE_REFRESH',
      },
      {
        ...base,
        Email: 'typed-secret@example.com',
        'OAuth2 token URL': TOKEN_URL,
        'OAuth2 client ID': 'app-3',
        'OAuth2 client secret': 'typed-into-the-cell-secret',
      },
      {
        ...base,
        Email: 'plain-http@example.com',
        'OAuth2 token URL': 'http://idp.example.com/token',
        'OAuth2 client ID': 'app-4',
        'OAuth2 client secret': 'env:M365_SECRET',
      },
      { ...base, Email: 'password@example.com', Password: 'pw-secret-1' },
    ]);
    const directory = h.directory({
      env: {
        M365_SECRET: 'm365-secret-value',
        GOOGLE_SECRET: 'google-secret-value',
        GOOGLE_REFRESH: '1//refresh-value',
      },
    });
    await directory.start();
    const mailboxes = directory.snapshot().mailboxes;
    expect(mailboxes.map((mailbox) => mailbox.email)).toEqual([
      'm365@example.com',
      'google@example.com',
      'password@example.com',
    ]);
    expect(mailboxes[0]!.oauth2).toEqual({
      tokenUrl: TOKEN_URL,
      clientId: 'app-1',
      clientSecret: 'm365-secret-value',
      clientSecretSource: 'env:M365_SECRET',
      scope: null,
      refreshToken: null,
      refreshTokenSource: null,
    });
    expect(mailboxes[1]!.oauth2).toMatchObject({
      scope: 'https://mail.google.com/',
      refreshToken: '1//refresh-value',
      refreshTokenSource: 'env:GOOGLE_REFRESH',
    });
    expect(mailboxes[2]!.oauth2).toBeUndefined();
    const warned = h.logs.lines.filter(
      (line) => line.msg?.includes('typed-secret') || line.msg?.includes('plain-http'),
    );
    expect(warned.map((line) => line.msg)).toEqual([
      'Mailboxes row "typed-secret@example.com": "OAuth2 client secret" must be env:VAR_NAME (the secret itself belongs in the bot\'s environment, not in the base); the mailbox is ignored',
      'Mailboxes row "plain-http@example.com": "OAuth2 token URL": the token endpoint must be an https:// URL; the mailbox is ignored',
    ]);
    // the secrets are masked everywhere and never reach the saved copy
    expect(h.scrubber.scrub('m365-secret-value 1//refresh-value typed-into-the-cell-secret')).toBe(
      '[REDACTED] [REDACTED] [REDACTED]',
    );
    const saved = (
      h.db.prepare('SELECT snapshot FROM directory_cache WHERE source = ?').get('seatable') as {
        snapshot: string;
      }
    ).snapshot;
    expect(saved).toContain('env:GOOGLE_REFRESH');
    for (const secret of ['m365-secret-value', 'google-secret-value', '1//refresh-value']) {
      expect(saved).not.toContain(secret);
    }
  });
});
