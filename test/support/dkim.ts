/**
 * DKIM for tests: a key pair made in the test, mail signed with it (mailauth's signer), and the DNS
 * TXT record that publishes the public key, served by a fake resolver (in process) or the fake DNS
 * server (test/fakes/dns/) for a bot process.
 */
import { generateKeyPairSync } from 'node:crypto';
import { dkimSign } from 'mailauth/lib/dkim/sign.js';
import type { DnsResolver } from '../../src/mail/dkim-verification.js';

export interface DkimKey {
  domain: string;
  selector: string;
  privateKey: string;
  /** The `<selector>._domainkey.<domain>` name and its TXT value. */
  record: { name: string; value: string };
}

/** A fresh RSA key for `domain` (1024 bits keeps the TXT answer inside one UDP packet). */
export function makeDkimKey(domain: string, selector = 'sel1', bits = 1024): DkimKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: bits });
  const spki = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
  return {
    domain,
    selector,
    privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    record: { name: `${selector}._domainkey.${domain}`, value: `v=DKIM1; k=rsa; p=${spki}` },
  };
}

/** The mail with a DKIM-Signature of `key` on top (From, Subject, To, Date, ... signed). */
export async function signMail(
  raw: string | Buffer,
  key: DkimKey,
  options: { headerList?: string[]; maxBodyLength?: number } = {},
): Promise<Buffer> {
  const input = Buffer.isBuffer(raw) ? raw : Buffer.from(raw);
  const signed = await dkimSign(input, {
    canonicalization: 'relaxed/relaxed',
    // mailauth reads the signed header names as one colon-separated string
    ...(options.headerList ? { headerList: options.headerList.join(':') } : {}),
    signatureData: [
      {
        signingDomain: key.domain,
        selector: key.selector,
        privateKey: key.privateKey,
        ...(options.maxBodyLength !== undefined ? { maxBodyLength: options.maxBodyLength } : {}),
      },
    ],
  } as never);
  if (signed.errors?.length) throw signed.errors[0];
  return Buffer.concat([Buffer.from(signed.signatures), input]);
}

/** A resolver that knows only these TXT records; anything else does not exist (ENOTFOUND). */
export function fakeResolver(records: Array<{ name: string; value: string }>): DnsResolver {
  return async (name, type) => {
    const found = records.filter((record) => record.name.toLowerCase() === name.toLowerCase());
    if (type !== 'TXT' || found.length === 0)
      throw Object.assign(new Error(`queryTxt ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
    // TXT answers are arrays of 255-byte strings
    return found.map((record) => record.value.match(/.{1,255}/g) ?? []);
  };
}
