/**
 * TELEGRAM_PROXY: every Bot API call (polling, sends, uploads, the admin chat, `check`) goes through
 * one proxy agent from the ecosystem (`https-proxy-agent` for http:// and https:// proxies,
 * `socks-proxy-agent` for socks5:// and socks5h://), handed to grammY as its fetch agent.
 *
 * A failure of the proxy itself becomes a {@link ProxyConnectError} with a `code` the rest of the bot
 * decides on ("proxy authentication failed" is not "Telegram not reachable through the proxy"), and a
 * message that names the proxy as `host:port` only: the URL holds the proxy's password.
 */
import type { Agent, ClientRequest } from 'node:http';
import type { Socket } from 'node:net';
import type { AgentConnectOpts } from 'agent-base';
import type { ApiClientOptions } from 'grammy';
import { HttpsProxyAgent } from 'https-proxy-agent';
import { SocksProxyAgent } from 'socks-proxy-agent';

/** The proxy URL schemes TELEGRAM_PROXY accepts. */
export const PROXY_PROTOCOLS = ['http:', 'https:', 'socks5:', 'socks5h:'] as const;

/**
 * What went wrong at the proxy. `EPROXYAUTH`: it refused our credentials (HTTP 407, SOCKS5
 * authentication failure). `EPROXYREFUSED`: it answered but did not reach the target (Telegram not
 * reachable through the proxy). `EPROXYUNREACHABLE`: no connection to the proxy itself.
 */
export type ProxyErrorCode = 'EPROXYAUTH' | 'EPROXYREFUSED' | 'EPROXYUNREACHABLE';

export class ProxyConnectError extends Error {
  constructor(
    readonly code: ProxyErrorCode,
    /** The proxy as `host:port`. */
    readonly proxy: string,
    detail: string,
  ) {
    super(
      code === 'EPROXYAUTH'
        ? `${PROXY_FAILURE_TEXT[code]}: the proxy ${proxy} refused the user and password (${detail})`
        : `${PROXY_FAILURE_TEXT[code]} ${proxy} (${detail})`,
    );
    this.name = 'ProxyConnectError';
  }
}

const PROXY_FAILURE_TEXT: Record<ProxyErrorCode, string> = {
  EPROXYAUTH: 'proxy authentication failed',
  EPROXYREFUSED: 'Telegram not reachable through the proxy',
  EPROXYUNREACHABLE: 'the proxy is not reachable:',
};

export interface TelegramProxy {
  /** `host:port` of the proxy, safe to print. */
  readonly address: string;
  /** `http`, `https`, `socks5` or `socks5h`. */
  readonly protocol: string;
  /** The agent every Bot API request uses. */
  readonly agent: Agent;
}

/** The proxy of a TELEGRAM_PROXY URL, `host:port` (brackets kept for IPv6), without credentials. */
export function proxyAddress(url: URL): string {
  const port = url.port || { 'http:': '80', 'https:': '443' }[url.protocol] || '1080';
  return `${url.hostname}:${port}`;
}

/** Creates the agent for a TELEGRAM_PROXY URL (already validated by the config). */
export function createTelegramProxy(proxyUrl: string): TelegramProxy {
  const url = new URL(proxyUrl);
  const address = proxyAddress(url);
  const protocol = url.protocol.replace(/:$/, '');
  const agent = protocol.startsWith('socks')
    ? new CheckedSocksProxyAgent(url, address)
    : new CheckedHttpsProxyAgent(url, address);
  return { address, protocol, agent };
}

/** The grammY client options that send every request through `proxy` (none without one). */
export function proxyClientOptions(proxy: TelegramProxy | null): Pick<ApiClientOptions, 'baseFetchConfig'> {
  if (!proxy) return {};
  // node-fetch (grammY's fetch on Node) takes the agent; `compress` as grammY's own default
  return { baseFetchConfig: { agent: proxy.agent, compress: true } as ApiClientOptions['baseFetchConfig'] };
}

/** The proxy failure behind a Bot API error (grammY's HttpError → node-fetch's FetchError → code), if any. */
export function proxyFailureCode(error: unknown): ProxyErrorCode | null {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current; depth++) {
    const code = (current as { code?: unknown }).code;
    if (code === 'EPROXYAUTH' || code === 'EPROXYREFUSED' || code === 'EPROXYUNREACHABLE') return code;
    // grammY's HttpError keeps the fetch error in `error`; others in `cause`
    current =
      (current as { error?: unknown; cause?: unknown }).error ?? (current as { cause?: unknown }).cause;
  }
  return null;
}

/**
 * The words for an error the proxy caused ("proxy authentication failed: the proxy host:port refused
 * the user and password (HTTP 407)"), else null. node-fetch keeps only the code of the agent's error,
 * and its own message quotes the request URL (with the bot token): the words are taken from its
 * "reason", which is ours.
 */
export function describeProxyError(error: unknown): string | null {
  const code = proxyFailureCode(error);
  if (!code) return null;
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current; depth++) {
    const message = current instanceof Error ? current.message : '';
    const reason = message.lastIndexOf(PROXY_FAILURE_TEXT[code]);
    if (reason >= 0) return message.slice(reason).replace(/\s+/g, ' ');
    current =
      (current as { error?: unknown; cause?: unknown }).error ?? (current as { cause?: unknown }).cause;
  }
  return PROXY_FAILURE_TEXT[code];
}

/** Errors of the TCP connection to the proxy itself (as opposed to the proxy's answer). */
const CONNECT_ERROR =
  /\b(ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EPIPE)\b/;

/** A CONNECT answered with anything but 200 fails the request instead of handing on the proxy's page. */
class CheckedHttpsProxyAgent extends HttpsProxyAgent<string> {
  constructor(
    url: URL,
    private readonly address: string,
  ) {
    super(url.href, { keepAlive: true });
  }

  override async connect(req: ClientRequest, opts: AgentConnectOpts): Promise<Socket> {
    let status = 0;
    req.once('proxyConnect', (connect: { statusCode: number }) => {
      status = connect.statusCode;
    });
    let socket: Socket;
    try {
      socket = (await super.connect(req, opts)) as Socket;
    } catch (error) {
      throw new ProxyConnectError('EPROXYUNREACHABLE', this.address, errorCodeOf(error));
    }
    if (status === 200) return socket;
    socket.destroy();
    // 407 is the standard answer; tinyproxy answers a CONNECT with wrong credentials 401
    if (status === 407 || status === 401)
      throw new ProxyConnectError('EPROXYAUTH', this.address, `HTTP ${status}`);
    throw new ProxyConnectError('EPROXYREFUSED', this.address, `CONNECT answered HTTP ${status}`);
  }
}

class CheckedSocksProxyAgent extends SocksProxyAgent {
  constructor(
    url: URL,
    private readonly address: string,
  ) {
    super(url, { keepAlive: true });
    // socks-proxy-agent keeps an IPv6 host in its URL brackets, which no socket connects to
    if (this.proxy.host) this.proxy.host = this.proxy.host.replace(/^\[|\]$/g, '');
  }

  override async connect(req: ClientRequest, opts: AgentConnectOpts): Promise<Socket> {
    try {
      return (await super.connect(req, opts)) as Socket;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      // socks5:// resolves Telegram's name here: a failed lookup is not the proxy's
      if ((error as { hostname?: string }).hostname === opts.host) throw error;
      if (/authentication failed|no accepted authentication type/i.test(message)) {
        throw new ProxyConnectError('EPROXYAUTH', this.address, 'SOCKS5 authentication failed');
      }
      // the socks client reports a failed connection to the proxy by the socket error's message alone
      const connectError =
        CONNECT_ERROR.exec(message)?.[0] ?? (/timed out/i.test(message) ? 'timed out' : null);
      if (connectError) throw new ProxyConnectError('EPROXYUNREACHABLE', this.address, connectError);
      // "Socks5 proxy rejected connection - HostUnreachable" and the like: the proxy's own words
      const reason = /rejected connection - (\w+)/.exec(message)?.[1] ?? 'connection failed';
      throw new ProxyConnectError('EPROXYREFUSED', this.address, `SOCKS5 ${reason}`);
    }
  }
}

function errorCodeOf(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : 'connection failed';
}
