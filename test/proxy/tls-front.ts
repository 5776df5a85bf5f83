/**
 * TLS in front of a proxy (what stunnel or a TLS-speaking Squid port does), for https:// proxy URLs:
 * accepts TLS on 127.0.0.1 with a throwaway self-signed certificate and pipes the plain bytes to the
 * proxy's port. Clients trust it through NODE_EXTRA_CA_CERTS={@link TlsFront.certFile}.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createServer, type Server } from 'node:tls';

export class TlsFront {
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    private readonly dir: string,
    readonly port: number,
    /** The certificate (its own CA) to trust. */
    readonly certFile: string,
  ) {}

  static async start(targetPort: number): Promise<TlsFront> {
    const dir = mkdtempSync(path.join(tmpdir(), 'tls-front-'));
    const keyFile = path.join(dir, 'key.pem');
    const certFile = path.join(dir, 'cert.pem');
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1'].concat([
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        keyFile,
        '-out',
        certFile,
      ]),
      { stdio: 'ignore' },
    );
    const server = createServer({ key: readFileSync(keyFile), cert: readFileSync(certFile) });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const front = new TlsFront(server, dir, (server.address() as { port: number }).port, certFile);
    server.on('secureConnection', (client) => {
      const upstream = connect(targetPort, '127.0.0.1');
      for (const socket of [client, upstream]) {
        front.sockets.add(socket);
        socket.on('close', () => front.sockets.delete(socket));
        socket.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    return front;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      for (const socket of this.sockets) socket.destroy();
    });
    rmSync(this.dir, { recursive: true, force: true });
  }
}
