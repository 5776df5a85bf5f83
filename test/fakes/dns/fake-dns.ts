/**
 * A DNS server on 127.0.0.1 (UDP) that answers TXT queries from a table, for a bot process that
 * looks up DKIM keys (DNS_SERVERS=127.0.0.1:<port>). Speaks RFC 1035 messages: one question per
 * query; TXT answers as character-strings of at most 255 bytes; NXDOMAIN for names it does not know.
 * Keep answers under 512 bytes (a 1024-bit RSA key fits): it does not do EDNS or TCP.
 *
 *   const dns = await FakeDns.start();
 *   dns.setTxt('sel1._domainkey.bi.example.com', 'v=DKIM1; k=rsa; p=...');
 *   env.DNS_SERVERS = dns.address;
 */
import { createSocket, type Socket } from 'node:dgram';

const TYPE_TXT = 16;
const CLASS_IN = 1;

export class FakeDns {
  private readonly records = new Map<string, string[]>();
  /** Names asked for, in order, lower-cased (what the bot looked up). */
  readonly queries: string[] = [];

  private constructor(
    private readonly socket: Socket,
    readonly port: number,
  ) {}

  static async start(): Promise<FakeDns> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, '127.0.0.1', () => resolve());
    });
    const dns = new FakeDns(socket, socket.address().port);
    socket.on('message', (message, peer) => {
      const answer = dns.answer(message);
      if (answer) socket.send(answer, peer.port, peer.address);
    });
    return dns;
  }

  /** `host:port`, the form DNS_SERVERS takes. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Publishes one TXT record (several calls for one name give several records). */
  setTxt(name: string, value: string): void {
    const key = name.toLowerCase().replace(/\.$/, '');
    this.records.set(key, [...(this.records.get(key) ?? []), value]);
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }

  private answer(query: Buffer): Buffer | null {
    if (query.length < 12 || query.readUInt16BE(4) !== 1) return null;
    // the question: labels up to a zero byte, then type and class
    const labels: string[] = [];
    let at = 12;
    while (at < query.length && query[at] !== 0) {
      const length = query[at]!;
      if (length > 63) return null;
      labels.push(query.toString('latin1', at + 1, at + 1 + length));
      at += 1 + length;
    }
    at += 1;
    if (at + 4 > query.length) return null;
    const type = query.readUInt16BE(at);
    const questionEnd = at + 4;
    const name = labels.join('.').toLowerCase();
    this.queries.push(name);
    const values = type === TYPE_TXT ? (this.records.get(name) ?? []) : [];
    const known = this.records.has(name);

    const header = Buffer.alloc(12);
    header.writeUInt16BE(query.readUInt16BE(0), 0);
    // QR, the query's RD, RA; rcode 3 (NXDOMAIN) for an unknown name, 0 otherwise
    header.writeUInt16BE(0x8080 | (query.readUInt16BE(2) & 0x0100) | (known ? 0 : 3), 2);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(values.length, 6);
    const answers = values.map((value) => {
      const bytes = Buffer.from(value, 'utf8');
      const strings: Buffer[] = [];
      for (let offset = 0; offset < bytes.length; offset += 255) {
        const piece = bytes.subarray(offset, offset + 255);
        strings.push(Buffer.from([piece.length]), piece);
      }
      const data = Buffer.concat(strings);
      const fixed = Buffer.alloc(12);
      fixed.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
      fixed.writeUInt16BE(TYPE_TXT, 2);
      fixed.writeUInt16BE(CLASS_IN, 4);
      fixed.writeUInt32BE(60, 6);
      fixed.writeUInt16BE(data.length, 10);
      return Buffer.concat([fixed, data]);
    });
    return Buffer.concat([header, query.subarray(12, questionEnd), ...answers]);
  }
}
