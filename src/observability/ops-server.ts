/**
 * The operations endpoints on HTTP_HOST:HTTP_PORT (loopback by default): `/healthz` (the process
 * answers), `/readyz` (directory loaded, Telegram polling, every mailbox connected or retrying; JSON
 * detail, 503 when not ready) and `/metrics` (Prometheus). Both JSON answers carry the instance's
 * `role` (`leader` or `standby`) as a top-level field when a role is given.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface Readiness {
  ready: boolean;
  [detail: string]: unknown;
}

export interface OpsServerOptions {
  host: string;
  port: number;
  registry: Registry;
  readiness: () => Readiness;
  /** This instance's role (`leader` or `standby`), shown by /healthz and /readyz. */
  role?: () => string;
}

export class OpsServer {
  private server: Server | null = null;

  constructor(private readonly options: OpsServerOptions) {}

  /** Starts listening; resolves with the bound port. */
  async start(): Promise<number> {
    const server = createServer((request, response) => {
      const path = (request.url ?? '/').split('?')[0];
      const send = (status: number, type: string, body: string) => {
        response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
        response.end(body);
      };
      if (request.method !== 'GET' && request.method !== 'HEAD')
        return send(405, 'text/plain', 'method not allowed\n');
      const role = this.options.role?.();
      if (path === '/healthz') {
        return send(
          200,
          'application/json',
          `${JSON.stringify({ status: 'ok', ...(role ? { role } : {}) })}\n`,
        );
      }
      if (path === '/readyz') {
        const readiness = role ? { role, ...this.options.readiness() } : this.options.readiness();
        return send(
          readiness.ready ? 200 : 503,
          'application/json',
          `${JSON.stringify(readiness, null, 2)}\n`,
        );
      }
      if (path === '/metrics') {
        this.options.registry.metrics().then(
          (text) => send(200, this.options.registry.contentType, text),
          (error: unknown) =>
            send(500, 'text/plain', `metrics failed: ${error instanceof Error ? error.message : error}\n`),
        );
        return;
      }
      send(404, 'text/plain', 'not found: try /healthz, /readyz or /metrics\n');
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port, this.options.host, () => resolve());
    });
    return (server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
