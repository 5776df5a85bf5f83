/**
 * HS256 JSON Web Tokens, as SeaTable mints its Base-Tokens. The payload carries the claims of the
 * documented example token (api.seatable.com, authentication.yaml):
 * `{"exp":1614352594,"dtable_uuid":"…","username":"","permission":"rw","app_name":"postman"}`.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** The claims of a Base-Token. */
export interface BaseTokenClaims {
  /** Expiry, epoch seconds. */
  exp: number;
  dtable_uuid: string;
  /** Empty for tokens minted from an API-Token. */
  username: string;
  permission: 'rw' | 'r';
  app_name: string;
}

function base64url(input: Buffer | string): string {
  return Buffer.from(input).toString('base64url');
}

function signature(signingInput: string, secret: string): Buffer {
  return createHmac('sha256', secret).update(signingInput).digest();
}

/** Signs the claims; the header is SeaTable's `{"typ":"JWT","alg":"HS256"}`. */
export function signBaseToken(claims: BaseTokenClaims, secret: string): string {
  const signingInput = `${base64url(JSON.stringify({ typ: 'JWT', alg: 'HS256' }))}.${base64url(JSON.stringify(claims))}`;
  return `${signingInput}.${signature(signingInput, secret).toString('base64url')}`;
}

/** The claims of a token signed with `secret`, or null when it is malformed or the signature is wrong. */
export function verifyBaseToken(token: string, secret: string): BaseTokenClaims | null {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  const [header, payload, signed] = parts as [string, string, string];
  const expected = signature(`${header}.${payload}`, secret);
  const actual = Buffer.from(signed, 'base64url');
  if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) return null;
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Partial<BaseTokenClaims>;
    if (typeof claims.exp !== 'number' || typeof claims.dtable_uuid !== 'string') return null;
    return claims as BaseTokenClaims;
  } catch {
    return null;
  }
}
