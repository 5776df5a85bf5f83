/**
 * A small Superset-shaped report mail (multipart/related, HTML body, octet-stream PDF) for tests
 * that exercise the pipeline rather than the parser. Every call makes a distinct mail.
 */
import { randomUUID } from 'node:crypto';
import { makePng } from '../fixtures/sample-files.js';

let counter = 0;

export function minimalPdf(label: string): Buffer {
  return Buffer.from(
    `%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n% ${label}\ntrailer << /Root 1 0 R >>\n%%EOF\n`,
  );
}

export interface SimpleMailOptions {
  subject?: string;
  from?: string;
  to?: string;
  /** Leave out the PDF: a mail with nothing to forward. */
  noFile?: boolean;
  messageId?: string | null;
}

export function reportMail(options: SimpleMailOptions = {}): {
  raw: string;
  subject: string;
  pdf: Buffer | null;
} {
  counter++;
  const unique = `${Date.now()}-${counter}-${randomUUID().slice(0, 8)}`;
  const subject = options.subject ?? `[Report]  Sales dashboard ${unique}`;
  const boundary = `===============${String(Date.now()).padStart(19, '0')}==`;
  const pdf = options.noFile ? null : minimalPdf(unique);
  const lines = [
    `Subject: ${subject}`,
    `From: ${options.from ?? 'superset@bi.example.com'}`,
    `To: ${options.to ?? 'reports@example.com'}`,
    `Date: ${new Date().toUTCString().replace('GMT', '+0000')}`,
    ...(options.messageId === null ? [] : [`Message-ID: <${options.messageId ?? unique}@bi.example.com>`]),
    `Content-Type: multipart/related; boundary="${boundary}"`,
    'MIME-Version: 1.0',
    '',
    'This is a multi-part message in MIME format.',
    `--${boundary}`,
    'Content-Type: text/html; charset="us-ascii"',
    'MIME-Version: 1.0',
    'Content-Transfer-Encoding: 7bit',
    '',
    `<div>Daily numbers ${unique}</div><br><b><a href="https://bi.example.com/superset/dashboard/1/">Explore in Superset</a></b><p></p>`,
  ];
  if (pdf) {
    lines.push(
      `--${boundary}`,
      `Content-Type: application/octet-stream; Content-Disposition="attachment; filename='Sales ${counter}.pdf'"; Name="Sales ${counter}.pdf"`,
      'MIME-Version: 1.0',
      'Content-Transfer-Encoding: base64',
      '',
      ...(pdf.toString('base64').match(/.{1,76}/g) ?? []),
    );
  }
  lines.push(`--${boundary}--`, '');
  return { raw: lines.join('\r\n'), subject: subject.replace(/\s+/g, ' ').trim(), pdf };
}

export interface PngReportOptions {
  subject?: string;
  from?: string;
  /** Screenshot sizes, in order (default one 1600×1200). */
  screenshots?: Array<{ width: number; height: number; rgb?: [number, number, number] }>;
  /** Also attach a PDF (Superset never mixes, but forks and relays might). */
  withPdf?: boolean;
  link?: string;
  /** Store the PNGs uncompressed (about width × height × 3 bytes), to build big files. */
  uncompressed?: boolean;
  /** The screenshots' bytes as given (e.g. from test/support/dashboard-images.ts), instead of `screenshots`. */
  images?: Buffer[];
}

/** A Superset PNG report: inline screenshots named "<subject> <date>" without an extension. */
export function pngReportMail(options: PngReportOptions = {}): {
  raw: string;
  subject: string;
  pngs: Buffer[];
} {
  counter++;
  const unique = `${Date.now()}-${counter}-${randomUUID().slice(0, 8)}`;
  const subject = options.subject ?? `[Report]  Dashboard ${unique}`;
  const boundary = `===============${String(Date.now() + counter).padStart(19, '0')}==`;
  const date = new Date().toUTCString().replace('GMT', '+0000');
  const pngs =
    options.images ??
    (options.screenshots ?? [{ width: 1600, height: 1200 }]).map((size, index) =>
      makePng(size.width, size.height, {
        rgb: size.rgb ?? [counter % 256, (index * 40) % 256, (counter >> 8) % 256],
        ...(options.uncompressed ? { compressionLevel: 0 } : {}),
      }),
    );
  const ids = pngs.map((_, index) => `${unique}.${index}@bi.example.com`);
  const lines = [
    `Subject: ${subject}`,
    `From: ${options.from ?? 'superset@bi.example.com'}`,
    'To: reports@example.com',
    `Date: ${date}`,
    `Content-Type: multipart/related; boundary="${boundary}"`,
    'MIME-Version: 1.0',
    '',
    `--${boundary}`,
    'Content-Type: text/html; charset="us-ascii"',
    'MIME-Version: 1.0',
    'Content-Transfer-Encoding: 7bit',
    '',
    `<div>Screens ${unique}</div><br><b><a href="${options.link ?? 'https://bi.example.com/superset/dashboard/7/'}">Explore in Superset</a></b><p></p>` +
      ids.map((id) => `<div class="image"><img width="1000" src="cid:${id}"></div>`).join(''),
  ];
  if (options.withPdf) {
    lines.push(
      `--${boundary}`,
      `Content-Type: application/octet-stream; Name="Dashboard ${counter}.pdf"`,
      'MIME-Version: 1.0',
      'Content-Transfer-Encoding: base64',
      '',
      ...(minimalPdf(unique)
        .toString('base64')
        .match(/.{1,76}/g) ?? []),
    );
  }
  pngs.forEach((png, index) => {
    lines.push(
      `--${boundary}`,
      `Content-Type: image/png; name="${subject} ${date}"`,
      'MIME-Version: 1.0',
      'Content-Transfer-Encoding: base64',
      `Content-ID: <${ids[index]}>`,
      'Content-Disposition: inline',
      '',
    );
    // one line at a time: a big image has more lines than a call may take arguments
    for (const line of png.toString('base64').match(/.{1,76}/g) ?? []) lines.push(line);
  });
  lines.push(`--${boundary}--`, '');
  return { raw: lines.join('\r\n'), subject: subject.replace(/\s+/g, ' ').trim(), pngs };
}
