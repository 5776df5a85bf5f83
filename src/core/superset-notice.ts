/**
 * Superset's own notices: mail (or a webhook POST) without files that says a report could not be
 * made. Recognised on the subject (the webhook's `name`) AND the body text (the webhook's `text`), in
 * the shapes of Superset's EN and RU locales (superset/reports/notifications/email.py, webhook.py,
 * superset/commands/report/execute.py):
 * - `error`: the report's recipients are told it could not be generated: subject `[Report]  <name>`
 *   (the prefix is EMAIL_REPORTS_SUBJECT_PREFIX, absent on the webhook), body "Your report/alert was
 *   unable to be generated because of the following error: …" (≤ 4.0: "Error: …");
 *   `Error occurred for Report: <name>` is the editors-only variant (`ownersOnly`);
 * - `retry`: `Report Retry [<n> of <m>]: <name>`, body "Report Generation Failed — Retry in Progress";
 * - `final-failure`: `Report Failed - All Retries Exhausted: <name>`.
 * Plain data in, plain data out. Both halves must match, so a report whose name merely looks like a
 * notice is still a report, and a notice cannot be made by a subject alone.
 */

export type SupersetNoticeKind = 'error' | 'retry' | 'final-failure';

export interface SupersetNotice {
  kind: SupersetNoticeKind;
  /** The report's name as Superset put it in the subject (whitespace collapsed, not yet made safe). */
  reportName: string;
  /** For `retry`: this attempt and the number of attempts, when the subject says. */
  attempt?: number;
  maxAttempts?: number;
  /** The editors-only error mail (`Error occurred for Report: …`): never for subscribers. */
  ownersOnly?: boolean;
}

/** Longest report name kept from a notice, in characters. */
const NAME_MAX_LENGTH = 200;

/** EMAIL_REPORTS_SUBJECT_PREFIX: `[Report] ` by default, any bracketed word in practice (`[Отчёт] `). */
const SUBJECT_PREFIX = /^\[[^\]\n]{1,40}\]\s*/u;

const RETRY_SUBJECT =
  /^(?:Report Retry|Повтор(?:ная попытка)?(?: отч[её]та)?|Повторная отправка отч[её]та)\s*\[(\d{1,4})\s+(?:of|из)\s+(\d{1,4})\]\s*[:：]\s*(.+)$/iu;
/**
 * The `text` Superset's webhook sends with every failure, whatever the notice: on master (7.0) always
 * "Contact the report owner for error details." (webhook.py `_get_req_payload` hides the diagnostics),
 * on 6.1 the diagnostics themselves, for missing content "Unexpected missing screenshot|pdf|csv
 * file|Excel file" (execute.py `_get_notification_content`).
 */
const WEBHOOK_FAILURE_TEXT =
  /contact the report owner for error details|unexpected missing (?:screenshot|pdf|csv file|excel file)|обратитесь к (?:владельцу|автору) отч[её]та/iu;

const RETRY_BODY = new RegExp(
  `retry in progress|report generation failed|повтор|попытк|${WEBHOOK_FAILURE_TEXT.source}`,
  'iu',
);

const FINAL_SUBJECT =
  /^(?:Report Failed\s*[-–—]\s*All Retries Exhausted|Отч[её]т не (?:сформирован|создан)\s*[-–—]\s*(?:все )?попытки исчерпаны)\s*[:：]\s*(.+)$/iu;
const FINAL_BODY = new RegExp(
  `exhausted|failed|исчерпан|не удалось|ошибк|${WEBHOOK_FAILURE_TEXT.source}`,
  'iu',
);

const OWNERS_ERROR_SUBJECT =
  /^(?:Error occurred for (?:Report|Alert)|Произошла ошибка (?:для|в) (?:отч[её]те?|оповещени[ия]))\s*[:：]\s*(.+)$/iu;

/** "unable to be generated" (4.1+), "Error: …" (≤ 4.0), their RU renderings, and the webhook's text. */
const ERROR_BODY = new RegExp(
  `was unable to be generated|^\\s*error\\s*:|не\\s+(?:удалось|может\\s+быть|был[оа]?\\s+)?\\s*(?:сформир|созда|сгенерир|построи|подготови)|^\\s*ошибка\\s*:|${WEBHOOK_FAILURE_TEXT.source}`,
  'iu',
);

/** What Superset notice `subject` + `text` is, or null when it is not one. */
export function recogniseSupersetNotice(subject: string, text: string): SupersetNotice | null {
  const cleanSubject = subject.replace(/\s+/gu, ' ').trim();
  const body = text.replace(/\s+/gu, ' ').trim();
  if (cleanSubject === '' || body === '') return null;
  const unprefixed = cleanSubject.replace(SUBJECT_PREFIX, '');

  const retry = RETRY_SUBJECT.exec(unprefixed);
  if (retry && RETRY_BODY.test(body)) {
    const attempt = Number(retry[1]);
    const maxAttempts = Number(retry[2]);
    return { kind: 'retry', reportName: clip(retry[3]!), attempt, maxAttempts };
  }
  const final = FINAL_SUBJECT.exec(unprefixed);
  if (final && FINAL_BODY.test(body)) return { kind: 'final-failure', reportName: clip(final[1]!) };

  if (!ERROR_BODY.test(body)) return null;
  const owners = OWNERS_ERROR_SUBJECT.exec(unprefixed);
  if (owners) return { kind: 'error', reportName: clip(owners[1]!), ownersOnly: true };
  if (unprefixed === '') return null;
  return { kind: 'error', reportName: clip(unprefixed) };
}

/**
 * The name a report mail or webhook carries, for matching it with earlier notices of the same report:
 * the subject without EMAIL_REPORTS_SUBJECT_PREFIX, whitespace collapsed.
 */
export function reportNameOf(subject: string): string {
  return clip(subject.replace(/\s+/gu, ' ').trim().replace(SUBJECT_PREFIX, ''));
}

/**
 * Whether a report called `deliveredName` is the one notices called `noticeName`: the same name, or
 * the name followed by `: <chart or dashboard>` (the missing-content notice names the report alone).
 */
export function isSameReport(noticeName: string, deliveredName: string): boolean {
  const notice = noticeName.toLowerCase();
  const delivered = deliveredName.toLowerCase();
  return delivered === notice || delivered.startsWith(`${notice}: `);
}

function clip(name: string): string {
  const characters = Array.from(name.trim());
  return characters.length <= NAME_MAX_LENGTH
    ? characters.join('')
    : `${characters.slice(0, NAME_MAX_LENGTH - 1).join('')}…`;
}
