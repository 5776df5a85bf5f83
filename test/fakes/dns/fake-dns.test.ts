/** The fake DNS server answers node:dns like a real one: TXT records split in 255-byte strings, NXDOMAIN. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dnsResolverFor } from '../../../src/intake/report-intake.js';
import { FakeDns } from './fake-dns.js';

let dns: FakeDns;
beforeAll(async () => {
  dns = await FakeDns.start();
});
afterAll(() => dns?.stop());

describe('fake DNS', () => {
  it('serves long TXT records and refuses unknown names', async () => {
    const long = `v=DKIM1; k=rsa; p=${'A'.repeat(300)}`;
    dns.setTxt('sel1._domainkey.bi.example.com', long);
    const resolve = dnsResolverFor(dns.address);
    const records = (await resolve('sel1._domainkey.bi.example.com', 'TXT')) as string[][];
    expect(records.map((chunks) => chunks.join(''))).toEqual([long]);
    expect(records[0]!.map((chunk) => chunk.length)).toEqual([255, long.length - 255]);
    await expect(resolve('nope._domainkey.bi.example.com', 'TXT')).rejects.toMatchObject({
      code: 'ENOTFOUND',
    });
    expect(dns.queries).toContain('nope._domainkey.bi.example.com');
  });
});
