/** The webhook URL's token: unguessable, per mailbox, derived from WEBHOOK_SECRET. */
import { describe, expect, it } from 'vitest';
import { mailboxForToken, webhookPath, webhookToken, webhookUrl } from '../../src/webhook/webhook-token.js';

const SECRET = 's'.repeat(40);

describe('webhook token', () => {
  it('is at least 20 URL-safe characters, the same for the same mailbox, different for another', () => {
    const token = webhookToken(SECRET, 'reports@bi.example.com');
    expect(token).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    expect(webhookToken(SECRET, 'Reports@BI.example.com ')).toBe(token);
    expect(webhookToken(SECRET, 'other@bi.example.com')).not.toBe(token);
  });

  it('changes for every mailbox when the secret changes', () => {
    const emails = ['a@x.example', 'b@x.example'];
    for (const email of emails)
      expect(webhookToken(`${SECRET}!`, email)).not.toBe(webhookToken(SECRET, email));
  });

  it('finds the mailbox of a token, and none for a wrong, cut or other-secret token', () => {
    const emails = ['a@x.example', 'b@x.example'];
    expect(mailboxForToken(SECRET, webhookToken(SECRET, 'b@x.example'), emails)).toBe('b@x.example');
    expect(mailboxForToken(SECRET, webhookToken(SECRET, 'b@x.example').slice(0, -1), emails)).toBeNull();
    expect(mailboxForToken(SECRET, webhookToken(`${SECRET}!`, 'a@x.example'), emails)).toBeNull();
    expect(mailboxForToken(SECRET, '', emails)).toBeNull();
  });

  it('prints the full URL with WEBHOOK_PUBLIC_URL, else the path', () => {
    const path = webhookPath(SECRET, 'a@x.example');
    expect(path).toMatch(/^\/webhook\/[A-Za-z0-9_-]{32}$/);
    expect(webhookUrl(SECRET, 'a@x.example')).toBe(path);
    expect(webhookUrl(SECRET, 'a@x.example', 'https://bot.example.com/')).toBe(
      `https://bot.example.com${path}`,
    );
  });
});
