/**
 * Prometheus metrics (prom-client), one registry per running bot. Counters are fed by the intake and
 * the dispatcher; gauges about mailboxes, the outbox and the directory are read when scraped.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { ListenerStatus } from '../imap/mailbox-listener.js';

export interface MetricsSources {
  listeners: () => ListenerStatus[];
  outboxDepth: () => number;
  /** When the directory was last read from its source (ISO), or null. */
  directoryLoadedAt: () => string | null;
}

export class BotMetrics {
  readonly registry = new Registry();
  readonly reports: Counter<'mailbox' | 'result'>;
  readonly deliveries: Counter<'result'>;
  readonly deliveryLatency: Histogram;
  readonly telegramErrors: Counter<'code'>;
  readonly webhookRequests: Counter<'status' | 'outcome'>;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.reports = new Counter({
      name: 'stb_reports_total',
      help: 'Mails recorded, by mailbox and result (forward, no_files, rejected_sender, too_large, unreadable, duplicate).',
      labelNames: ['mailbox', 'result'],
      registers,
    });
    this.deliveries = new Counter({
      name: 'stb_deliveries_total',
      help: 'Delivery outcomes (sent, failed, cancelled, retry, rate_limited).',
      labelNames: ['result'],
      registers,
    });
    this.deliveryLatency = new Histogram({
      name: 'stb_delivery_latency_seconds',
      help: 'From the mail reaching the mailbox to the last message of a delivery sent.',
      buckets: [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600],
      registers,
    });
    this.telegramErrors = new Counter({
      name: 'stb_telegram_api_errors_total',
      help: 'Bot API errors during delivery, by error code (0 = network).',
      labelNames: ['code'],
      registers,
    });
    this.webhookRequests = new Counter({
      name: 'stb_webhook_requests_total',
      help: 'Answers of the webhook receiver, by HTTP status and outcome (recorded, retry, not_found, too_large, malformed, paused, stopping, failed, method_not_allowed).',
      labelNames: ['status', 'outcome'],
      registers,
    });
    new Gauge({
      name: 'stb_mailbox_connected',
      help: '1 while the mailbox listener is connected, 0 otherwise.',
      labelNames: ['mailbox'],
      registers,
      collect() {
        this.reset();
        for (const status of sources.listeners())
          this.set({ mailbox: status.mailbox }, status.state === 'connected' ? 1 : 0);
      },
    });
    new Gauge({
      name: 'stb_mailbox_last_mail_age_seconds',
      help: 'Seconds since the listener last recorded a mail (absent until the first one).',
      labelNames: ['mailbox'],
      registers,
      collect() {
        this.reset();
        const now = Date.now();
        for (const status of sources.listeners()) {
          if (status.lastMailAt)
            this.set({ mailbox: status.mailbox }, (now - Date.parse(status.lastMailAt)) / 1000);
        }
      },
    });
    new Gauge({
      name: 'stb_outbox_depth',
      help: 'Deliveries waiting to be sent.',
      registers,
      collect() {
        this.set(sources.outboxDepth());
      },
    });
    new Gauge({
      name: 'stb_directory_refresh_age_seconds',
      help: 'Seconds since the directory was last read from its source.',
      registers,
      collect() {
        const loadedAt = sources.directoryLoadedAt();
        if (loadedAt) this.set((Date.now() - Date.parse(loadedAt)) / 1000);
      },
    });
  }
}
