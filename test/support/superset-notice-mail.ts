/**
 * Superset's notices as it mails them (superset/reports/notifications/email.py): the error mail of
 * `_error_template`, and the retry and final-failure notices, each a multipart/related mail with one
 * HTML part and no file. Every call makes a distinct mail.
 */
let mailCounter = 0;

/**
 * A notice as Superset mails it: multipart/related with one HTML part and no file (email.py
 * `_error_template` for the error; the retry and final-failure bodies as their templates word them).
 */
export function noticeMail(subject: string, html: string, from = 'superset@bi.example.com'): string {
  mailCounter++;
  const boundary = `===============${String(1_000_000 + mailCounter).padStart(19, '0')}==`;
  return [
    `Subject: ${subject}`,
    `From: ${from}`,
    'To: reports@example.com',
    `Date: ${new Date().toUTCString().replace('GMT', '+0000')}`,
    `Message-ID: <notice-${mailCounter}-${Date.now()}@bi.example.com>`,
    `Content-Type: multipart/related; boundary="${boundary}"`,
    'MIME-Version: 1.0',
    '',
    `--${boundary}`,
    'Content-Type: text/html; charset="utf-8"',
    'MIME-Version: 1.0',
    'Content-Transfer-Encoding: 8bit',
    '',
    html,
    `--${boundary}--`,
    '',
  ].join('\r\n');
}

export const errorHtml = (detail = 'Contact the report owner for error details.') =>
  `<p>Your report/alert was unable to be generated because of the following error: ${detail}</p>` +
  '<p>Please check your dashboard/chart for errors.</p>' +
  '<p><b><a href="https://bi.example.com/superset/dashboard/7/">Explore in Superset</a></b></p>';
export const retryHtml = (n: number, m: number) =>
  `<h2>Report Generation Failed — Retry in Progress</h2><p>Attempt ${n} of ${m} failed. Superset will retry.</p>`;
export const finalHtml =
  '<h2>Report Failed</h2><p>All retries exhausted: the report could not be generated.</p>';
