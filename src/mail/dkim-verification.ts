/**
 * DKIM verification of one mail while it streams by. The mail parser tees the raw bytes it reads into
 * this verifier (mailauth's), so nothing is read twice and nothing is held whole: mailauth keeps the
 * header block and feeds the body through its hashers chunk by chunk. The DNS lookups of the signing
 * keys happen at the end, through the resolver given (node:dns by default; a fake in tests).
 */
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import type { DkimSignatureFact } from '../core/sender-auth.js';

/**
 * Looks up DNS records like `dns.promises.resolve(name, type)`: for TXT, an array of records, each an
 * array of strings. Rejects with `code` ENOTFOUND/ENODATA when there is no such record.
 */
export type DnsResolver = (name: string, type: string) => Promise<unknown>;

/** Shortest RSA key accepted, in bits (mailauth's default; shorter keys count as a policy failure). */
const MIN_KEY_BITS = 1024;

interface MailauthSignature {
  signingDomain?: string;
  signingHeaders?: { keys?: string };
  status?: { result?: string; comment?: string | boolean; aligned?: string | false; underSized?: number };
}

/** The verifier of one mail: `write` every raw chunk, then `finish`. */
export class DkimVerification {
  private readonly input = new PassThrough();
  private readonly result: Promise<DkimSignatureFact[]>;
  private settled = false;

  constructor(resolver?: DnsResolver) {
    // mailauth (and what it pulls in) is loaded only by mailboxes that verify DKIM; the input waits in
    // the PassThrough meanwhile, its writer held back by the usual backpressure
    this.result = import('mailauth/lib/dkim/verify.js')
      .then(({ dkimVerify }) =>
        dkimVerify(this.input, {
          ...(resolver ? { resolver: resolver as never } : {}),
          minBitLength: MIN_KEY_BITS,
        }),
      )
      .then((verdict) =>
        ((verdict.results ?? []) as MailauthSignature[])
          // a message without any signature gets one entry with result 'none' and no domain
          .filter((signature) => signature.signingDomain)
          .map((signature) => ({
            domain: String(signature.signingDomain).toLowerCase(),
            result: String(signature.status?.result ?? 'none'),
            aligned: Boolean(signature.status?.aligned),
            signsFrom: (signature.signingHeaders?.keys ?? '')
              .split(':')
              .some((key) => key.trim().toLowerCase() === 'from'),
            coversBody: !signature.status?.underSized,
            comment: typeof signature.status?.comment === 'string' ? signature.status.comment : null,
          })),
      )
      // a verifier that breaks on a crafted header proves nothing: no signature passes, with the reason
      .catch((error: unknown) => [
        {
          domain: '(unverifiable)',
          result: 'permerror',
          aligned: false,
          signsFrom: false,
          coversBody: false,
          comment: error instanceof Error ? error.message.slice(0, 200) : String(error),
        },
      ])
      .finally(() => {
        this.settled = true;
      });
  }

  /** Passes one raw chunk on, waiting while the verifier is behind (so memory stays bounded). */
  async write(chunk: Buffer): Promise<void> {
    // a verifier that gave up reads no more: the rest of the mail still flows to the parser
    if (this.settled || this.input.destroyed) return;
    if (this.input.write(chunk)) return;
    await Promise.race([once(this.input, 'drain'), this.result]);
  }

  /** Ends the input and gives the signatures found, verified. */
  finish(): Promise<DkimSignatureFact[]> {
    if (!this.input.destroyed) this.input.end();
    return this.result;
  }

  /** Gives up (the parse failed). */
  abort(): void {
    this.input.destroy();
  }
}
