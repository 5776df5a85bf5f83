/**
 * Whether a mail's From can be believed: the sender-authentication rule of a mailbox. The From header
 * alone is whatever the sender typed, so a mailbox can require proof that the From domain sent it:
 *
 * - `off`: the From header is taken as it is (the allowed-senders list still applies to it);
 * - `dkim`: the bot verifies the DKIM signatures itself; one must pass, be aligned with the From domain
 *   (same organisational domain), sign the From header and cover the whole body;
 * - `authentication-results`: the receiving mail server already checked; the bot reads the
 *   `Authentication-Results` header that server added (found by its authserv-id, e.g. the MTA's host
 *   name) and requires `dkim=pass` or `spf=pass` aligned with the From domain. Such headers with any
 *   other authserv-id were written by someone else and are ignored.
 *
 * Pure rules over facts the mail parser gathered; no I/O.
 */
import { getDomain } from 'tldts';

export type SenderAuthMode = 'off' | 'dkim' | 'authentication-results';

export const SENDER_AUTH_MODES: readonly SenderAuthMode[] = ['off', 'dkim', 'authentication-results'];

/** The rule of one mailbox. */
export interface SenderAuthPolicy {
  mode: SenderAuthMode;
  /** For `authentication-results`: the authserv-id of the trusted server; null means SENDER_AUTHSERV_ID. */
  authservId: string | null;
}

/**
 * Reads a rule as written in the CLI, SeaTable or the environment: `off`, `dkim`,
 * `authentication-results` or `authentication-results:<authserv-id>`. Returns null when it is none of these.
 */
export function parseSenderAuth(text: string): SenderAuthPolicy | null {
  const value = text.trim();
  const lower = value.toLowerCase();
  if (lower === 'off' || lower === 'dkim' || lower === 'authentication-results')
    return { mode: lower, authservId: null };
  const match = /^authentication-results\s*[:=]\s*([A-Za-z0-9.-]+)$/i.exec(value);
  if (match) return { mode: 'authentication-results', authservId: match[1]!.toLowerCase() };
  return null;
}

/** The rule written back in the form {@link parseSenderAuth} reads. */
export function formatSenderAuth(policy: SenderAuthPolicy): string {
  return policy.mode === 'authentication-results' && policy.authservId
    ? `${policy.mode}:${policy.authservId}`
    : policy.mode;
}

/** What the parser found out about one DKIM signature of the mail (the bot's own verification). */
export interface DkimSignatureFact {
  /** The signing domain (d=), lower-cased. */
  domain: string;
  /** mailauth's result: pass, fail, neutral, policy, temperror, permerror, none. */
  result: string;
  /** The signing domain and the From domain share their organisational domain. */
  aligned: boolean;
  /** The From header is among the signed headers (h=). */
  signsFrom: boolean;
  /** The signature covers the whole body (no l= with content after it). */
  coversBody: boolean;
  /** Why it did not pass, when mailauth says. */
  comment: string | null;
}

/** Facts about a mail's origin, gathered while it was parsed. */
export interface SenderEvidence {
  /** Addresses in all From headers together (a forger may add a second From above a signed one). */
  fromAddresses: number;
  /** The values of the root's Authentication-Results headers, top (newest) first. */
  authenticationResults: string[];
  /** The DKIM signatures, verified; null when the parser was not asked to verify. */
  dkim: DkimSignatureFact[] | null;
}

export type SenderVerdict =
  | { ok: true }
  /** `temporary`: a DNS failure; trying the same mail again later may pass. */
  | { ok: false; reason: string; temporary?: boolean };

/** The organisational domain (example.co.uk for bi.example.co.uk), lower-cased. */
function organisationalDomain(domain: string): string {
  const value = domain.toLowerCase().replace(/\.$/, '');
  return getDomain(value, { allowPrivateDomains: true }) ?? value;
}

/** DMARC's relaxed alignment: both domains have the same organisational domain. */
export function isAligned(domain: string, fromDomain: string): boolean {
  if (!domain || !fromDomain) return false;
  return organisationalDomain(domain) === organisationalDomain(fromDomain);
}

/** One method result of an Authentication-Results header: `dkim=pass header.d=example.com`. */
export interface AuthenticationResult {
  method: string;
  result: string;
  /** Properties such as `header.d`, `smtp.mailfrom`, lower-case keys. */
  properties: Record<string, string>;
}

/** A parsed Authentication-Results header (RFC 8601): who wrote it, and its results. */
export interface AuthenticationResultsHeader {
  authservId: string;
  results: AuthenticationResult[];
}

/** Removes RFC 5322 comments `( ... )`, nested, outside quoted strings. */
function withoutComments(value: string): string {
  let out = '';
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const ch = value[i]!;
    if (quoted) {
      out += ch;
      if (ch === '\\' && i + 1 < value.length) out += value[++i];
      else if (ch === '"') quoted = false;
    } else if (ch === '(') depth++;
    else if (ch === ')' && depth > 0) depth--;
    else if (depth === 0) {
      if (ch === '"') quoted = true;
      out += ch;
    }
  }
  return out;
}

/** Parses one Authentication-Results header value; null when it has no authserv-id. */
export function parseAuthenticationResults(value: string): AuthenticationResultsHeader | null {
  const text = withoutComments(value.slice(0, 16 * 1024)).replace(/\s+/g, ' ');
  const [head, ...resinfos] = text.split(';');
  const authservId = (head ?? '').trim().split(' ')[0]?.toLowerCase() ?? '';
  if (!authservId) return null;
  const results: AuthenticationResult[] = [];
  for (const resinfo of resinfos) {
    const tokens = resinfo.trim().match(/[^\s=]+\s*=\s*(?:"(?:[^"\\]|\\.)*"|[^\s]+)/g) ?? [];
    const [first, ...rest] = tokens;
    if (!first) continue;
    const [method, result] = first.split('=').map((part) => part.trim().toLowerCase());
    if (!method || !result || method.includes('.')) continue;
    const properties: Record<string, string> = {};
    for (const token of rest) {
      const at = token.indexOf('=');
      const key = token.slice(0, at).trim().toLowerCase();
      const property = token
        .slice(at + 1)
        .trim()
        .replace(/^"(.*)"$/, '$1');
      if (key.includes('.') && !(key in properties)) properties[key] = property;
    }
    results.push({ method, result, properties });
  }
  return { authservId, results };
}

/** The domain part of an address or `@domain`, lower-cased. */
function domainOf(value: string | undefined): string {
  if (!value) return '';
  return value.slice(value.lastIndexOf('@') + 1).toLowerCase();
}

/**
 * Checks a mail against a mailbox's rule. `from` is the address the bot read from the From header;
 * `trustedAuthservId` is the effective authserv-id for `authentication-results` (the mailbox's or the
 * global one).
 */
export function checkSender(
  from: string | null,
  evidence: SenderEvidence | undefined,
  mode: SenderAuthMode,
  trustedAuthservId: string | null,
): SenderVerdict {
  if (mode === 'off') return { ok: true };
  if (!from) return { ok: false, reason: 'the mail has no readable From address' };
  if (!evidence) return { ok: false, reason: 'the mail was not checked for sender authentication' };
  if (evidence.fromAddresses !== 1)
    return {
      ok: false,
      reason: `the mail has ${evidence.fromAddresses} From addresses; exactly one can be authenticated`,
    };
  const fromDomain = domainOf(from);
  if (mode === 'dkim') {
    if (!evidence.dkim) return { ok: false, reason: 'DKIM was not verified' };
    // mailauth's `aligned` is about the From address mailauth read; the bot acts on the one it read
    // itself, so the signing domain must be aligned with that one too (a display name or a second
    // address the two parsers read differently cannot borrow a signature of another domain)
    const alignedWithBoth = (signature: DkimSignatureFact): boolean =>
      signature.aligned && isAligned(signature.domain, fromDomain);
    const good = evidence.dkim.find(
      (signature) =>
        signature.result === 'pass' &&
        alignedWithBoth(signature) &&
        signature.signsFrom &&
        signature.coversBody,
    );
    if (good) return { ok: true };
    const aligned = evidence.dkim.filter(alignedWithBoth);
    const seen = evidence.dkim.length
      ? evidence.dkim
          .map((signature) => {
            const flaws = [
              signature.result !== 'pass'
                ? `${signature.result}${signature.comment ? ` (${signature.comment})` : ''}`
                : 'pass',
              alignedWithBoth(signature) ? null : 'not aligned',
              signature.signsFrom ? null : 'From not signed',
              signature.coversBody ? null : 'part of the body unsigned (l=)',
            ].filter(Boolean);
            return `d=${signature.domain}: ${flaws.join(', ')}`;
          })
          .join('; ')
      : 'no DKIM signature';
    return {
      ok: false,
      reason: `no valid DKIM signature aligned with ${fromDomain} (${seen})`,
      ...(aligned.some((signature) => signature.result === 'temperror') ? { temporary: true } : {}),
    };
  }
  // authentication-results
  if (!trustedAuthservId)
    return { ok: false, reason: 'no authserv-id is configured (SENDER_AUTHSERV_ID or the mailbox setting)' };
  const trusted = trustedAuthservId.toLowerCase();
  // the receiving server adds its header on top; a forged one with the same id sits below it
  const header = evidence.authenticationResults
    .map(parseAuthenticationResults)
    .find((parsed) => parsed?.authservId === trusted);
  if (!header) return { ok: false, reason: `no Authentication-Results header from ${trusted}` };
  // the server names the From domain it read (header.from, as DMARC does); another one than the bot's
  // means the two read the From header differently, and the server's results are about someone else
  const otherFrom = header.results
    .map((entry) => domainOf(entry.properties['header.from']))
    .find((domain) => domain && domain !== fromDomain);
  if (otherFrom)
    return {
      ok: false,
      reason: `${trusted} read the From domain as ${otherFrom}, the bot as ${fromDomain}`,
    };
  const pass = header.results.find((entry) => {
    if (entry.result !== 'pass') return false;
    if (entry.method === 'dkim')
      return isAligned(domainOf(entry.properties['header.d'] ?? entry.properties['header.i']), fromDomain);
    if (entry.method === 'spf') return isAligned(domainOf(entry.properties['smtp.mailfrom']), fromDomain);
    return false;
  });
  if (pass) return { ok: true };
  const summary =
    header.results
      .filter((entry) => entry.method === 'dkim' || entry.method === 'spf')
      .map(
        (entry) =>
          `${entry.method}=${entry.result}${
            entry.method === 'dkim'
              ? ` d=${domainOf(entry.properties['header.d'] ?? entry.properties['header.i']) || '?'}`
              : ` mailfrom=${domainOf(entry.properties['smtp.mailfrom']) || '?'}`
          }`,
      )
      .join(', ') || 'no dkim or spf result';
  return {
    ok: false,
    reason: `${trusted} found no dkim=pass or spf=pass aligned with ${fromDomain} (${summary})`,
  };
}
