/** The sender-authentication rule over Authentication-Results headers, and how a rule is written. */
import { describe, expect, it } from 'vitest';
import {
  checkSender,
  isAligned,
  parseAuthenticationResults,
  parseSenderAuth,
  type SenderEvidence,
} from '../../src/core/sender-auth.js';
import { isLinkUnder } from '../../src/intake/report-intake.js';

const FROM = 'superset@bi.example.com';
const evidence = (...authenticationResults: string[]): SenderEvidence => ({
  fromAddresses: 1,
  authenticationResults,
  dkim: null,
});
const judge = (...headers: string[]) =>
  checkSender(FROM, evidence(...headers), 'authentication-results', 'mx.example.com');

describe('SENDER_AUTH=authentication-results', () => {
  it("passes dkim=pass of the From domain in the trusted server's header", () => {
    expect(
      judge(
        'mx.example.com; dkim=pass (2048-bit key) header.d=bi.example.com header.s=sel1 header.b=AbC; spf=none',
      ),
    ).toEqual({ ok: true });
  });

  it('passes spf=pass when the envelope sender is of the From domain', () => {
    expect(judge('mx.example.com 1; spf=pass smtp.mailfrom="bounce@mail.bi.example.com"; dkim=none')).toEqual(
      {
        ok: true,
      },
    );
  });

  it('fails a pass for another domain', () => {
    expect(
      judge('mx.example.com; dkim=pass header.d=evil.example.net; spf=pass smtp.mailfrom=x@evil.example.net'),
    ).toMatchObject({
      ok: false,
      reason: expect.stringContaining('dkim=pass d=evil.example.net, spf=pass mailfrom=evil.example.net'),
    });
  });

  it('ignores headers written by any other server, however good they look', () => {
    expect(judge('attacker.example.net; dkim=pass header.d=bi.example.com')).toMatchObject({
      ok: false,
      reason: 'no Authentication-Results header from mx.example.com',
    });
  });

  it('believes the topmost header of the trusted server, not a forged copy below it', () => {
    expect(
      judge(
        'mx.example.com; dkim=fail header.d=bi.example.com; spf=softfail smtp.mailfrom=a@evil.example.net',
        'mx.example.com; dkim=pass header.d=bi.example.com',
      ),
    ).toMatchObject({ ok: false });
  });

  it('does not read a result hidden in a comment', () => {
    expect(
      judge('mx.example.com; dkim=fail (dkim=pass header.d=bi.example.com) header.d=bi.example.com'),
    ).toMatchObject({
      ok: false,
    });
  });

  it('fails when the server read another From domain (header.from) than the bot', () => {
    // the SPF pass is aligned with the bot's From, but the server's DMARC read the From as evil's
    expect(
      judge(
        'mx.example.com; spf=pass smtp.mailfrom=bounce@bi.example.com; dmarc=pass header.from=evil.example.net',
      ),
    ).toMatchObject({
      ok: false,
      reason: expect.stringContaining('read the From domain as evil.example.net'),
    });
    expect(
      judge(
        'mx.example.com; spf=pass smtp.mailfrom=bounce@bi.example.com; dmarc=pass header.from=bi.example.com',
      ),
    ).toEqual({ ok: true });
  });

  it('fails without a configured authserv-id, and with two From addresses', () => {
    const header = 'mx.example.com; dkim=pass header.d=bi.example.com';
    expect(checkSender(FROM, evidence(header), 'authentication-results', null)).toMatchObject({ ok: false });
    expect(
      checkSender(
        FROM,
        { ...evidence(header), fromAddresses: 2 },
        'authentication-results',
        'mx.example.com',
      ),
    ).toMatchObject({ ok: false, reason: expect.stringContaining('2 From addresses') });
  });

  it('parses properties, quoted values and the version', () => {
    expect(
      parseAuthenticationResults('MX.Example.com 1; dkim=pass reason="good sig" header.d=a.example'),
    ).toEqual({
      authservId: 'mx.example.com',
      results: [{ method: 'dkim', result: 'pass', properties: { 'header.d': 'a.example' } }],
    });
  });
});

describe('the rule as written', () => {
  it('reads the forms of the CLI and SeaTable', () => {
    expect(parseSenderAuth('DKIM')).toEqual({ mode: 'dkim', authservId: null });
    expect(parseSenderAuth('authentication-results:MX.example.com')).toEqual({
      mode: 'authentication-results',
      authservId: 'mx.example.com',
    });
    expect(parseSenderAuth('spf')).toBeNull();
  });

  it('aligns by organisational domain, public suffixes included', () => {
    expect(isAligned('mail.bi.example.co.uk', 'example.co.uk')).toBe(true);
    expect(isAligned('evil.co.uk', 'example.co.uk')).toBe(false);
    expect(isAligned('co.uk', 'example.co.uk')).toBe(false);
  });
});

describe('SUPERSET_URL', () => {
  it('accepts only links under the public address', () => {
    expect(isLinkUnder('https://bi.example.com/superset/dashboard/1/', 'https://bi.example.com')).toBe(true);
    expect(isLinkUnder('https://bi.example.com/superset/x', 'https://bi.example.com/superset')).toBe(true);
    expect(isLinkUnder('https://bi.example.com/superset-evil/x', 'https://bi.example.com/superset')).toBe(
      false,
    );
    expect(isLinkUnder('https://bi.example.com.evil.net/x', 'https://bi.example.com')).toBe(false);
    expect(isLinkUnder('https://bi.example.com@evil.net/x', 'https://bi.example.com')).toBe(false);
    expect(isLinkUnder('http://bi.example.com/x', 'https://bi.example.com')).toBe(false);
  });
});

describe('SENDER_AUTH=dkim', () => {
  const signature = { result: 'pass', signsFrom: true, coversBody: true, comment: null };
  it('fails a signature mailauth calls aligned when it is not aligned with the From the bot read', () => {
    // mailauth read `evil@attacker.example` where the bot read reports@company.example: the attack of a
    // From display name holding an encoded address
    const verdict = checkSender(
      'reports@company.example',
      {
        fromAddresses: 1,
        authenticationResults: [],
        dkim: [{ ...signature, domain: 'attacker.example', aligned: true }],
      },
      'dkim',
      null,
    );
    expect(verdict).toMatchObject({
      ok: false,
      reason: expect.stringContaining('d=attacker.example: pass, not aligned'),
    });
    expect(
      checkSender(
        'reports@company.example',
        {
          fromAddresses: 1,
          authenticationResults: [],
          dkim: [{ ...signature, domain: 'mail.company.example', aligned: true }],
        },
        'dkim',
        null,
      ),
    ).toEqual({ ok: true });
  });
});
