/**
 * `mailbox add --webhook-only` and `webhook url` through the built CLI: the URL is the last line, made
 * of WEBHOOK_PUBLIC_URL (or nothing) and the mailbox's path, and rotating the secret rotates it.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { webhookPath } from '../../src/webhook/webhook-token.js';
import { removeDir, tempDataDir } from '../support/bot-harness.js';
import { runCli } from '../support/bot-process.js';

const dataDir = tempDataDir();
afterAll(() => removeDir(dataDir));
const SECRET = 'cli-webhook-secret-0123456789abcdefgh';

function cli(env: Record<string, string>, ...args: string[]) {
  return runCli(args, { DATA_DIR: dataDir, ...env });
}

const lastLine = (text: string) => text.trim().split('\n').at(-1);

describe('webhook commands', () => {
  it('adds a webhook-only mailbox and prints its URL as the last line', async () => {
    const added = await cli({}, 'mailbox', 'add', 'Hook@Example.com', '--webhook-only');
    expect(added.code).toBe(0);
    expect(added.stdout).toContain('mailbox hook@example.com added (webhook only: no IMAP)');

    const refused = await cli({}, 'mailbox', 'add', 'x@example.com', '--webhook-only', '--folder', 'Reports');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('--folder: not for a --webhook-only mailbox');
    const noHost = await cli({}, 'mailbox', 'add', 'y@example.com', '--password', 'secret-password-1');
    expect(noHost.code).toBe(1);
    expect(noHost.stderr).toContain('--host is required (or --webhook-only)');

    const path = await cli(
      { WEBHOOK_SECRET: SECRET, WEBHOOK_PORT: '8443' },
      'webhook',
      'url',
      'hook@example.com',
    );
    expect(path.code).toBe(0);
    expect(lastLine(path.stdout)).toBe(webhookPath(SECRET, 'hook@example.com'));
    expect(lastLine(path.stdout)).toMatch(/^\/webhook\/[A-Za-z0-9_-]{20,}$/);

    const full = await cli(
      { WEBHOOK_SECRET: SECRET, WEBHOOK_PORT: '8443', WEBHOOK_PUBLIC_URL: 'https://bot.example.com' },
      'webhook',
      'url',
      'HOOK@example.com',
    );
    expect(lastLine(full.stdout)).toBe(`https://bot.example.com${webhookPath(SECRET, 'hook@example.com')}`);

    const rotated = await cli(
      { WEBHOOK_SECRET: `${SECRET}-new`, WEBHOOK_PORT: '8443' },
      'webhook',
      'url',
      'hook@example.com',
    );
    expect(lastLine(rotated.stdout)).not.toBe(lastLine(path.stdout));
  });

  it('says what is missing: the secret, or the mailbox', async () => {
    const noSecret = await cli({}, 'webhook', 'url', 'hook@example.com');
    expect(noSecret.code).toBe(1);
    expect(noSecret.stderr).toContain('WEBHOOK_SECRET is not set');
    const unknown = await cli({ WEBHOOK_SECRET: SECRET }, 'webhook', 'url', 'nobody@example.com');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr.trim()).toBe('error: no mailbox nobody@example.com in the directory');
    expect(unknown.stderr).not.toContain(SECRET);
  });
});
