/**
 * DKIM verified while the mail streams through the parser, judged by the sender-authentication rule:
 * signed mail passes, forged and tampered mail fails with a reason. Keys are made here and served by
 * a fake resolver.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { checkSender } from '../../src/core/sender-auth.js';
import type { DnsResolver } from '../../src/mail/dkim-verification.js';
import { parseMail } from '../../src/mail/mail-parser.js';
import { fakeResolver, makeDkimKey, signMail } from '../support/dkim.js';
import { reportMail } from '../support/simple-mail.js';

const spoolRoot = mkdtempSync(path.join(tmpdir(), 'stb-dkim-'));
afterAll(() => rmSync(spoolRoot, { recursive: true, force: true }));

const biKey = makeDkimKey('bi.example.com');
const evilKey = makeDkimKey('evil.example.net');
const resolver = fakeResolver([biKey.record, evilKey.record]);
let count = 0;

async function judge(raw: Buffer | string, dnsResolver: DnsResolver = resolver) {
  const bytes = Buffer.isBuffer(raw) ? raw : Buffer.from(raw);
  const mail = await parseMail(
    Readable.from(
      (function* () {
        for (let at = 0; at < bytes.length; at += 1000) yield bytes.subarray(at, at + 1000);
      })(),
    ),
    {
      spoolDir: path.join(spoolRoot, String(++count)),
      maxFileBytes: 1024 * 1024,
      dkim: { resolver: dnsResolver },
    },
  );
  return { mail, verdict: checkSender(mail.from, mail.evidence, 'dkim', null) };
}

describe('SENDER_AUTH=dkim', () => {
  it('passes a mail signed by the From domain, read in small chunks', async () => {
    const { mail, verdict } = await judge(await signMail(reportMail().raw, biKey));
    expect(mail.from).toBe('superset@bi.example.com');
    expect(mail.evidence?.dkim).toEqual([
      expect.objectContaining({ domain: 'bi.example.com', result: 'pass', aligned: true, signsFrom: true }),
    ]);
    expect(verdict).toEqual({ ok: true });
  });

  it('passes a signature of the parent domain (relaxed alignment)', async () => {
    const parentKey = makeDkimKey('example.com');
    const { verdict } = await judge(
      await signMail(reportMail().raw, parentKey),
      fakeResolver([parentKey.record]),
    );
    expect(verdict).toEqual({ ok: true });
  });

  it('fails an unsigned mail with a forged From', async () => {
    const { verdict } = await judge(reportMail().raw);
    expect(verdict).toMatchObject({ ok: false, reason: expect.stringContaining('no DKIM signature') });
  });

  it("fails a mail signed by the forger's own domain", async () => {
    const { verdict } = await judge(await signMail(reportMail().raw, evilKey));
    expect(verdict).toMatchObject({
      ok: false,
      reason: expect.stringContaining('d=evil.example.net: pass, not aligned'),
    });
  });

  it('fails a signed mail whose body was changed afterwards', async () => {
    const signed = (await signMail(reportMail().raw, biKey)).toString('latin1');
    const tampered = signed.replace('Explore in Superset', 'Explore in Superset!');
    expect(tampered).not.toBe(signed);
    const { verdict } = await judge(Buffer.from(tampered, 'latin1'));
    expect(verdict).toMatchObject({ ok: false, reason: expect.stringContaining('body hash did not verify') });
  });

  it('fails a signed mail with a second From header put on top', async () => {
    const signed = await signMail(reportMail().raw, biKey);
    const { mail, verdict } = await judge(
      Buffer.concat([Buffer.from('From: ceo@bi.example.com\r\n'), signed]),
    );
    expect(mail.from).toBe('ceo@bi.example.com');
    expect(verdict).toMatchObject({ ok: false, reason: expect.stringContaining('2 From addresses') });
  });

  describe('a From display name holding an encoded address (RFC 2047), signed by the forger', () => {
    // the forger signs with their own domain; the bot must read the same From address DKIM judged
    it.each([
      [
        'an encoded <address> as the display name',
        '=?utf-8?q?=3Csuperset=40bi.example.com=3E?= <forger@evil.example.net>',
        'forger@evil.example.net',
      ],
      [
        'an encoded bare address as the display name',
        '=?utf-8?q?superset=40bi.example.com?= <forger@evil.example.net>',
        'forger@evil.example.net',
      ],
      [
        'an encoded list of two addresses as the display name',
        '=?utf-8?q?=3Csuperset=40bi.example.com=3E=2C_=3Cceo=40bi.example.com=3E?= <forger@evil.example.net>',
        'forger@evil.example.net',
      ],
      [
        'a base64-encoded <address> as the display name',
        `=?utf-8?b?${Buffer.from('<superset@bi.example.com>').toString('base64')}?= <forger@evil.example.net>`,
        'forger@evil.example.net',
      ],
      ['a lone encoded word that decodes to an address', '=?utf-8?q?=3Csuperset=40bi.example.com=3E?=', null],
    ])('%s', async (_name, from, readAs) => {
      const { mail, verdict } = await judge(await signMail(reportMail({ from }).raw, evilKey));
      expect(mail.from).toBe(readAs);
      // nothing of bi.example.com may pass: either the From is the forger's own or none at all
      if (readAs) expect(verdict).toEqual({ ok: true });
      else expect(verdict).toMatchObject({ ok: false });
      expect(mail.from ?? '').not.toContain('bi.example.com');
    });

    it('still decodes a real encoded display name, and passes a genuine signature', async () => {
      const { mail, verdict } = await judge(
        await signMail(
          reportMail({
            from: `=?utf-8?b?${Buffer.from('Отчёты BI').toString('base64')}?= <superset@bi.example.com>`,
          }).raw,
          biKey,
        ),
      );
      expect(mail.from).toBe('superset@bi.example.com');
      expect(verdict).toEqual({ ok: true });
    });
  });

  it('fails a signature that does not sign the From header', async () => {
    const { verdict } = await judge(
      await signMail(reportMail().raw, biKey, { headerList: ['subject', 'date'] }),
    );
    expect(verdict).toMatchObject({ ok: false, reason: expect.stringContaining('From not signed') });
  });

  it('fails a signature that covers only the start of the body (l=) when more follows', async () => {
    const signed = await signMail(reportMail().raw, biKey, { maxBodyLength: 40 });
    const { verdict } = await judge(signed);
    expect(verdict).toMatchObject({
      ok: false,
      reason: expect.stringContaining('part of the body unsigned'),
    });
  });

  it('calls a DNS failure temporary, so the mail is read again rather than rejected', async () => {
    const failing: DnsResolver = async () => {
      throw Object.assign(new Error('queryTxt ESERVFAIL'), { code: 'ESERVFAIL' });
    };
    const { verdict } = await judge(await signMail(reportMail().raw, biKey), failing);
    expect(verdict).toMatchObject({ ok: false, temporary: true });
  });

  it('does not verify (nor ask DNS) when the rule is not dkim', async () => {
    const mail = await parseMail(Readable.from([Buffer.from(reportMail().raw)]), {
      spoolDir: path.join(spoolRoot, 'off'),
      maxFileBytes: 1024 * 1024,
    });
    expect(mail.evidence).toMatchObject({ fromAddresses: 1, dkim: null });
    expect(checkSender(mail.from, mail.evidence, 'off', null)).toEqual({ ok: true });
  });
});
