/**
 * Superset's webhook, received: an HTTP(S) server on WEBHOOK_HOST:WEBHOOK_PORT that takes a report
 * POSTed to a mailbox's URL (`/webhook/<token>`, see webhook-token.ts) into the same intake as a mail
 * of that mailbox. Answers follow what Superset does with them: it retries on 5xx, 429 and timeouts
 * (about three attempts in two minutes) and gives up on 4xx.
 *
 * - 200 once the report (or the failure notice) is recorded: files fsynced in the spool, rows
 *   committed; also for a retry of a report recorded within the last hour (recognised by content).
 * - 404 for any other path or an unknown token (one body for both), 405 for another method.
 * - 413 above MAX_MAIL_MB, 400 for a malformed body, 415 for another content type: each answered
 *   after the body was read, so the sender gets the answer rather than a reset connection.
 * - 503 while the bot stops, 500 when recording failed (Superset retries). A paused mailbox's report is
 *   recorded (200) and delivered when the mailbox is resumed, as its mail would be.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { ForwardFileType, ParsedMail } from '../core/report.js';
import type { Directory } from '../directory/directory.js';
import type { IntakeResult, ReportIntake } from '../intake/report-intake.js';
import type { Logger } from '../observability/logger.js';
import type { SecretScrubber } from '../observability/secret-scrubber.js';
import { drain, readWebhookBody, WebhookBodyError, type WebhookPost } from './webhook-body.js';
import { mailboxForToken, WEBHOOK_PATH_PREFIX } from './webhook-token.js';

/** A retry of the same report within this time is recognised and answered 200 without a new report. */
export const WEBHOOK_RETRY_WINDOW_MS = 60 * 60_000;

export interface WebhookServerOptions {
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  secret: string;
  /** PEM files for HTTPS (WEBHOOK_TLS_CERT/WEBHOOK_TLS_KEY); plain HTTP without them. */
  tls?: { certFile: string; keyFile: string } | null;
  directory: Directory;
  intake: ReportIntake;
  logger: Logger;
  scrubber: SecretScrubber;
  /** Root of the file spool; each POST gets its own directory inside. */
  spoolRoot: string;
  maxBodyBytes: number;
  maxFileBytes: number;
  /** FORWARD_FILE_TYPES: the kinds of file kept, as for mail (default pdf, png). */
  forwardTypes?: readonly ForwardFileType[];
  /** A connection that sends nothing for this long is closed (slow senders), ms. Default 30 s. */
  idleTimeoutMs?: number;
  /** The most a whole request may take, ms. Default 10 min (a 70 MB body over a slow link). */
  requestTimeoutMs?: number;
  /** How long `stop` waits for requests in flight before cutting them, ms. Default 30 s. */
  drainTimeoutMs?: number;
  /** Observes every answer (metrics): the HTTP status and what it was. */
  onAnswer?: (status: number, outcome: WebhookOutcome) => void;
  /** The clock (tests). */
  now?: () => number;
}

/** What a request came to, for metrics and logs. */
export type WebhookOutcome =
  | 'recorded'
  | 'retry'
  | 'not_found'
  | 'method_not_allowed'
  | 'too_large'
  | 'malformed'
  | 'stopping'
  | 'failed';

/** Characters of description and text kept (a mail's description is a short summary too). */
const MAX_DESCRIPTION_LENGTH = 4000;
const NOT_FOUND_BODY = '{"error":"not found"}\n';
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{1,100}$/;

export class WebhookServer {
  private server: Server | null = null;
  private stopping = false;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly options: WebhookServerOptions) {}

  /** Starts listening; resolves with the bound port. */
  async start(): Promise<number> {
    const { tls } = this.options;
    const handler = (request: IncomingMessage, response: ServerResponse) => {
      const handled = this.handle(request, response).catch((error: unknown) => {
        this.options.logger.error(
          { err: this.options.scrubber.describe(error) },
          'webhook request failed unexpectedly',
        );
        if (!response.headersSent) this.answer(response, 500, { error: 'internal error' }, 'failed');
      });
      this.inFlight.add(handled);
      void handled.finally(() => this.inFlight.delete(handled));
    };
    const server = tls
      ? createHttpsServer({ cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) }, handler)
      : createHttpServer(handler);
    // slow senders: headers must come quickly, a body may not stall, and a request has an end
    server.maxHeadersCount = 50;
    server.headersTimeout = 20_000;
    server.requestTimeout = this.options.requestTimeoutMs ?? 10 * 60_000;
    server.timeout = this.options.idleTimeoutMs ?? 30_000;
    server.keepAliveTimeout = 5_000;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port, this.options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return (server.address() as AddressInfo).port;
  }

  /**
   * Stops: no new connection is accepted, requests arriving on open connections are answered 503,
   * and the requests in flight finish (their reports recorded) before this resolves; past
   * `drainTimeoutMs` they are cut, and Superset's retry brings them again.
   */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server || this.stopping) return;
    this.stopping = true;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    const drained = Promise.allSettled([...this.inFlight]);
    const timeout = new Promise<'timeout'>((resolve) => {
      const timer = setTimeout(() => resolve('timeout'), this.options.drainTimeoutMs ?? 30_000);
      timer.unref();
    });
    if ((await Promise.race([drained, timeout])) === 'timeout') {
      this.options.logger.warn('webhook requests still in flight at stop were cut; Superset retries them');
      server.closeAllConnections();
    } else {
      // every answer given while stopping says `Connection: close`: its socket ends once it is flushed
      const grace = new Promise<void>((resolve) => setTimeout(resolve, 2000).unref());
      await Promise.race([closed, grace]);
      server.closeAllConnections();
    }
    await closed;
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const log = this.options.logger;
    if (this.stopping) {
      await drain(request);
      return this.answer(response, 503, { error: 'the bot is stopping; try again' }, 'stopping', true);
    }
    const url = request.url ?? '/';
    const pathname = url.split('?')[0] ?? '/';
    const token = pathname.startsWith(WEBHOOK_PATH_PREFIX) ? pathname.slice(WEBHOOK_PATH_PREFIX.length) : '';
    const snapshot = this.options.directory.snapshot();
    const email = TOKEN_PATTERN.test(token)
      ? mailboxForToken(
          this.options.secret,
          token,
          snapshot.mailboxes.map((mailbox) => mailbox.email),
        )
      : null;
    const mailbox = email ? snapshot.mailboxes.find((entry) => entry.email === email) : undefined;
    if (!mailbox) {
      await drain(request);
      // the same answer for a wrong token as for any path: nothing to learn by guessing
      return this.answerRaw(response, 404, NOT_FOUND_BODY, 'not_found');
    }
    if (request.method !== 'POST') {
      await drain(request);
      response.setHeader('allow', 'POST');
      return this.answer(response, 405, { error: 'method not allowed: POST' }, 'method_not_allowed');
    }
    const mailLog = log.child({ mailbox: mailbox.email, via: 'webhook' });
    // a paused mailbox's report is recorded all the same: its deliveries wait until the mailbox is
    // resumed (as its mail waits on the IMAP server), see OutboxDispatcher.holdWhilePaused
    if (!mailbox.active)
      mailLog.info('webhook POST for a paused mailbox: recorded, delivered when it is resumed');

    const spoolDir = path.join(this.options.spoolRoot, randomUUID());
    let post: WebhookPost;
    try {
      post = await readWebhookBody(request, spoolDir, {
        maxBodyBytes: this.options.maxBodyBytes,
        maxFileBytes: this.options.maxFileBytes,
        ...(this.options.forwardTypes ? { forwardTypes: this.options.forwardTypes } : {}),
      });
    } catch (error) {
      rmSync(spoolDir, { recursive: true, force: true });
      if (error instanceof WebhookBodyError) {
        mailLog.warn({ status: error.status, reason: error.message }, 'webhook POST refused');
        return this.answer(
          response,
          error.status,
          { error: error.message },
          error.status === 413 ? 'too_large' : 'malformed',
          true,
        );
      }
      throw error;
    }

    let result: IntakeResult;
    try {
      const { intake } = this.options;
      // the mail is made from the POST as sent, so a retry has the same fingerprint whatever tiles follow
      const mail = webhookMail(post, (this.options.now ?? Date.now)());
      const arrival = { mailbox: mailbox.email, via: 'webhook' } as const;
      // tiles and blank measures before recording, once per report, as for mail (mail-recorder.ts)
      const prepared = await intake.prepareImages(mailbox, arrival, mail, spoolDir, WEBHOOK_RETRY_WINDOW_MS);
      result = await intake.recordWebhook(mailbox, prepared, spoolDir, WEBHOOK_RETRY_WINDOW_MS);
    } catch (error) {
      // nothing committed (the intake records in one transaction): Superset's retry brings it again
      rmSync(spoolDir, { recursive: true, force: true });
      mailLog.error(
        { err: this.options.scrubber.describe(error), name: post.fields.name },
        'webhook report could not be recorded: answered 500, Superset retries',
      );
      return this.answer(response, 500, { error: 'could not record the report; retry' }, 'failed');
    }
    if (result.status === 'no_files' && isTextReport(post)) {
      mailLog.warn(
        { reportId: result.reportId, name: post.fields.name },
        'a TEXT report came by webhook, which never carries the table: nothing to forward; send this report by e-mail',
      );
    }
    if (result.status === 'duplicate') {
      mailLog.info(
        { reportId: result.reportId, name: post.fields.name },
        'webhook POST is a retry of a report recorded within the hour: not recorded again',
      );
    }
    return this.answer(
      response,
      200,
      { status: result.status, report: result.reportId, deliveries: result.deliveries },
      result.status === 'duplicate' ? 'retry' : 'recorded',
    );
  }

  private answer(
    response: ServerResponse,
    status: number,
    body: Record<string, unknown>,
    outcome: WebhookOutcome,
    close = false,
  ): void {
    this.answerRaw(response, status, `${JSON.stringify(body)}\n`, outcome, close);
  }

  private answerRaw(
    response: ServerResponse,
    status: number,
    body: string,
    outcome: WebhookOutcome,
    close = false,
  ): void {
    if (response.headersSent) return;
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'cache-control': 'no-store',
    };
    if (status === 503) headers['retry-after'] = '10';
    if (close || this.stopping) headers.connection = 'close';
    response.writeHead(status, headers);
    response.end(body);
    try {
      this.options.onAnswer?.(status, outcome);
    } catch {
      // metrics never change an answer
    }
  }
}

/** Collapses whitespace, as a mail subject is. */
function oneLine(value: string): string {
  return value.replace(/\s+/g, ' ').trim();
}

/**
 * A POST as the intake sees a mail: `name` is the subject, `url` the link, `description` and `text`
 * (Superset's failure diagnostics) the body's text; no sender. The fingerprint is its Message-ID, so a
 * retry is found; the raw hash is made unique per arrival, so the same report sent again a day later is
 * a new report.
 */
export function webhookMail(post: WebhookPost, receivedAt: number): ParsedMail {
  const { fields } = post;
  const link = fields.url && /^https?:\/\//i.test(fields.url.trim()) ? fields.url.trim() : null;
  return {
    subject: oneLine(fields.name),
    from: null,
    date: new Date(receivedAt).toISOString(),
    messageId: `webhook:${post.fingerprint}`,
    link,
    links: link ? [link] : [],
    description: [fields.description, fields.text]
      .filter((part): part is string => Boolean(part?.trim()))
      .map((part) => part.trim())
      .join('\n')
      .slice(0, MAX_DESCRIPTION_LENGTH),
    files: post.files,
    skipped: isTextReport(post) ? [...post.skipped, TEXT_REPORT_NOT_SENT] : post.skipped,
    rawSize: post.size,
    rawSha256: createArrivalHash(post.fingerprint),
  };
}

/**
 * Superset's webhook cannot carry a TEXT report: the table is the notification's `embedded_data`, which
 * webhook.py never sends (its `text` is failure diagnostics only). Such a POST comes as JSON with the
 * name and description and nothing else; it is recorded with this reason so `reports` says why.
 */
const TEXT_REPORT_NOT_SENT = {
  filename: null,
  contentType: 'text/html',
  reason:
    "TEXT report: Superset's webhook does not send the table (only e-mail does); send this report by e-mail to a mailbox of the bot",
};

/** A POST that says it is a TEXT report (header notification_format) and brought neither files nor text. */
function isTextReport(post: WebhookPost): boolean {
  if (post.files.length > 0 || post.skipped.length > 0 || post.fields.text || !post.fields.header)
    return false;
  try {
    const header = JSON.parse(post.fields.header) as { notification_format?: unknown };
    return (
      typeof header.notification_format === 'string' && header.notification_format.toUpperCase() === 'TEXT'
    );
  } catch {
    return false;
  }
}

function createArrivalHash(fingerprint: string): string {
  return `${fingerprint.slice(0, 32)}${randomUUID().replace(/-/g, '')}`;
}
