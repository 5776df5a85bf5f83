/**
 * A token endpoint double that answers like Microsoft's identity platform (real HTTP on loopback):
 * `POST /{tenant}/oauth2/v2.0/token` with the client credentials and refresh-token grants, form
 * encoded, client authentication by client_secret_post or HTTP Basic. Answers as documented in
 * "Microsoft identity platform and the OAuth 2.0 client credentials flow" and "... refresh tokens":
 *
 * - success: `{ token_type: "Bearer", expires_in, ext_expires_in, access_token, scope[, refresh_token] }`
 * - error: HTTP 400 (401 for a wrong client secret) with `{ error, error_description, error_codes,
 *   timestamp, trace_id, correlation_id, error_uri }`, where error_description starts with the
 *   AADSTS code and ends with "\r\nTrace ID: …\r\nCorrelation ID: …\r\nTimestamp: …".
 *
 * A second listener is the resource side: an RFC 7662 introspection endpoint (`POST /introspect`,
 * form `token=…`) for Dovecot's oauth2 passdb, answering `{ active, username, exp, client_id }`.
 * It stays up while the token endpoint is taken {@link FakeIdentityPlatform.down}.
 *
 * App-only tokens (client credentials) are for one mailbox each here: Dovecot's passdb compares the
 * introspected username with the login, and an app granted several mailboxes (Add-MailboxPermission)
 * would need one introspection answer per login, which the RFC 7662 request cannot ask for.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface FakeClient {
  clientId: string;
  secret: string;
  /** The mailbox (IMAP login) app-only tokens of this client are for. */
  user: string;
}

export interface TokenRequestRecord {
  grant: string;
  clientId: string;
  /** The outcome: 'ok' or the OAuth2 error code. */
  outcome: string;
  at: number;
}

interface IssuedToken {
  user: string;
  clientId: string;
  expiresAt: number;
}

interface RefreshGrant {
  user: string;
  clientId: string;
}

export class FakeIdentityPlatform {
  readonly tenant = '00000000-0000-4000-8000-00000000beef';
  private readonly clients = new Map<string, FakeClient>();
  private readonly accessTokens = new Map<string, IssuedToken>();
  private readonly refreshTokens = new Map<string, RefreshGrant>();
  /** Refresh tokens that were rotated away: presenting one is invalid_grant (AADSTS70000 here). */
  private readonly rotatedAway = new Set<string>();
  readonly requests: TokenRequestRecord[] = [];
  /** Lifetime of new access tokens, seconds (Microsoft: 3599 or so). */
  expiresInSeconds = 3599;
  /** Answer every refresh with a new refresh token and void the old one. */
  rotateRefreshTokens = false;
  /** Token endpoint answers with HTTP 503 instead of tokens. */
  failWith503 = false;
  private tokenServer: Server;
  private introspectionServer: Server;
  private readonly sockets = new Set<Socket>();
  tokenPort = 0;
  introspectionPort = 0;

  private constructor() {
    this.tokenServer = this.createTokenServer();
    this.introspectionServer = createServer((request, response) => {
      void this.introspect(request, response);
    });
  }

  static async start(): Promise<FakeIdentityPlatform> {
    const fake = new FakeIdentityPlatform();
    fake.tokenPort = await listen(fake.tokenServer, 0);
    fake.introspectionPort = await listen(fake.introspectionServer, 0);
    return fake;
  }

  /** The tenant's token endpoint, as a mailbox is configured with it. */
  get tokenUrl(): string {
    return `http://127.0.0.1:${this.tokenPort}/${this.tenant}/oauth2/v2.0/token`;
  }

  get introspectionUrl(): string {
    return `http://127.0.0.1:${this.introspectionPort}/introspect`;
  }

  /** Registers an app (client id and secret) whose app-only tokens are for `user`. */
  addClient(client: FakeClient): void {
    this.clients.set(client.clientId, client);
  }

  /** Issues a refresh token (as a user's consent would) for `user` through `clientId`. */
  issueRefreshToken(clientId: string, user: string): string {
    const token = `0.AR${randomBytes(24).toString('base64url')}`;
    this.refreshTokens.set(token, { clientId, user });
    return token;
  }

  /** Revokes a refresh token (the user changed their password, an admin revoked sessions). */
  revokeRefreshToken(token: string): void {
    this.refreshTokens.delete(token);
  }

  /** Voids every access token issued so far (introspection says inactive), as a revocation would. */
  revokeAccessTokens(): void {
    this.accessTokens.clear();
  }

  /** Whether `token` is a refresh token the endpoint accepts now. */
  refreshTokenValid(token: string): boolean {
    return this.refreshTokens.has(token);
  }

  /** Token requests of a client so far. */
  requestsOf(clientId: string): TokenRequestRecord[] {
    return this.requests.filter((request) => request.clientId === clientId);
  }

  /** The token endpoint stops answering (connections refused); introspection stays up. */
  async down(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.tokenServer.close(() => resolve());
      for (const socket of this.sockets) socket.destroy();
    });
  }

  /** The token endpoint answers again, on the same port. */
  async up(): Promise<void> {
    this.tokenServer = this.createTokenServer();
    await listen(this.tokenServer, this.tokenPort);
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await Promise.all([
      new Promise<void>((resolve) => this.tokenServer.close(() => resolve())),
      new Promise<void>((resolve) => {
        this.introspectionServer.close(() => resolve());
        this.introspectionServer.closeAllConnections();
      }),
    ]);
  }

  private createTokenServer(): Server {
    const server = createServer((request, response) => {
      void this.token(request, response);
    });
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    return server;
  }

  private async token(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const form = new URLSearchParams(await bodyOf(request));
    if (request.method !== 'POST' || request.url !== `/${this.tenant}/oauth2/v2.0/token`) {
      response.writeHead(404, { 'content-type': 'text/html' }).end('<html>Not Found</html>');
      return;
    }
    const basic = /^Basic (.+)$/i.exec(request.headers.authorization ?? '');
    let clientId = form.get('client_id') ?? '';
    let secret = form.get('client_secret');
    if (basic) {
      const [id, pass] = Buffer.from(basic[1]!, 'base64').toString().split(':');
      clientId = decodeURIComponent(id ?? '');
      secret = decodeURIComponent(pass ?? '');
    }
    const grant = form.get('grant_type') ?? '';
    const refuse = (status: number, error: string, code: number, text: string) => {
      this.requests.push({ grant, clientId, outcome: error, at: Date.now() });
      sendError(response, status, error, code, text);
    };
    if (this.failWith503) {
      this.requests.push({ grant, clientId, outcome: 'temporarily_unavailable', at: Date.now() });
      sendError(
        response,
        503,
        'temporarily_unavailable',
        90033,
        'A transient error has occurred. Please try again.',
      );
      return;
    }
    const client = this.clients.get(clientId);
    if (!client) {
      refuse(
        400,
        'unauthorized_client',
        700016,
        `Application with identifier '${clientId}' was not found in the directory '${this.tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`,
      );
      return;
    }
    if (secret !== client.secret) {
      refuse(
        401,
        'invalid_client',
        7000215,
        `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${clientId}'.`,
      );
      return;
    }
    let user: string;
    let refreshToken: string | undefined;
    if (grant === 'client_credentials') {
      const scope = form.get('scope') ?? '';
      if (!scope.endsWith('/.default')) {
        refuse(
          400,
          'invalid_scope',
          1002012,
          `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
        );
        return;
      }
      user = client.user;
    } else if (grant === 'refresh_token') {
      const presented = form.get('refresh_token') ?? '';
      const found = this.refreshTokens.get(presented);
      if (!found || found.clientId !== clientId) {
        refuse(
          400,
          'invalid_grant',
          this.rotatedAway.has(presented) ? 70000 : 700082,
          this.rotatedAway.has(presented)
            ? 'Provided grant is invalid or malformed.'
            : 'The refresh token has expired due to inactivity. The token was issued on 2026-09-01T10:00:00.0000000Z and was inactive for 90.00:00:00.',
        );
        return;
      }
      user = found.user;
      if (this.rotateRefreshTokens) {
        this.refreshTokens.delete(presented);
        this.rotatedAway.add(presented);
        refreshToken = this.issueRefreshToken(clientId, user);
      } else {
        refreshToken = presented;
      }
    } else {
      refuse(400, 'unsupported_grant_type', 70003, `The app requested an unsupported grant type '${grant}'.`);
      return;
    }
    const accessToken = `eyJ0eXAiOiJKV1Qi.${randomBytes(32).toString('base64url')}`;
    this.accessTokens.set(accessToken, {
      user,
      clientId,
      expiresAt: Date.now() + this.expiresInSeconds * 1000,
    });
    this.requests.push({ grant, clientId, outcome: 'ok', at: Date.now() });
    response.writeHead(200, {
      'content-type': 'application/json; charset=utf-8',
      'cache-control': 'no-store',
    });
    response.end(
      JSON.stringify({
        token_type: 'Bearer',
        scope: form.get('scope') ?? 'https://outlook.office.com/IMAP.AccessAsUser.All',
        expires_in: this.expiresInSeconds,
        ext_expires_in: this.expiresInSeconds,
        access_token: accessToken,
        ...(refreshToken ? { refresh_token: refreshToken } : {}),
      }),
    );
  }

  private async introspect(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const form = new URLSearchParams(await bodyOf(request));
    const token = form.get('token') ?? '';
    const issued = this.accessTokens.get(token);
    const active = issued !== undefined && issued.expiresAt > Date.now();
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(
      JSON.stringify(
        active
          ? {
              active: true,
              username: issued.user,
              client_id: issued.clientId,
              exp: Math.floor(issued.expiresAt / 1000),
            }
          : { active: false },
      ),
    );
  }
}

function sendError(
  response: ServerResponse,
  status: number,
  error: string,
  code: number,
  text: string,
): void {
  const traceId = randomUUID();
  const correlationId = randomUUID();
  const timestamp = new Date()
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
  });
  response.end(
    JSON.stringify({
      error,
      error_description: `AADSTS${code}: ${text}\r\nTrace ID: ${traceId}\r\nCorrelation ID: ${correlationId}\r\nTimestamp: ${timestamp}`,
      error_codes: [code],
      timestamp,
      trace_id: traceId,
      correlation_id: correlationId,
      error_uri: `https://login.microsoftonline.com/error?code=${code}`,
    }),
  );
}

async function bodyOf(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}
