/**
 * Names for the files the bot forwards: safe to show and to upload, always with the right extension.
 */
import type { ReportFileType } from '../core/report.js';

/** Longest name kept before the extension, in code points. */
const MAX_NAME_LENGTH = 150;

const EXTENSION: Record<ReportFileType, string> = {
  'application/pdf': '.pdf',
  'image/png': '.png',
  'text/csv': '.csv',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': '.xlsx',
  'application/zip': '.zip',
};
const NAMELESS_STEM: Record<ReportFileType, string> = {
  'application/pdf': 'report',
  'image/png': 'screenshot',
  'text/csv': 'data',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': 'data',
  'application/zip': 'data',
};

// C0/C1 controls, DEL, and the bidi marks and overrides that can disguise an extension (U+202E)
const UNSAFE_CHARACTERS = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * Cleans a declared file name: keeps only the last path segment, removes control and bidi characters,
 * collapses whitespace, trims spaces and dots. Returns '' when nothing usable is left.
 */
export function sanitizeFileName(declared: string | null | undefined): string {
  if (!declared) return '';
  const lastSegment = declared.replace(/\\/g, '/').split('/').pop() ?? '';
  return lastSegment
    .replace(UNSAFE_CHARACTERS, '')
    .replace(/\s+/g, ' ')
    .replace(/^[\s.]+|[\s.]+$/g, '');
}

/**
 * The final name of a file: the sanitised declared name cut to length, with the extension of its real
 * type appended when the name has another (Superset 6.0's ZIP named `X.csv` becomes `X.csv.zip`, which
 * opens as what it is and still tells what the sender called it); `report-N.pdf` /
 * `screenshot-N.png` / `data-N.csv` when it has no usable name.
 */
export function fileNameFor(
  declared: string | null | undefined,
  type: ReportFileType,
  ordinalOfType: number,
): string {
  let extension = EXTENSION[type];
  let stem = sanitizeFileName(declared);
  if (stem.toLowerCase().endsWith(extension)) {
    // keep the sender's spelling of a right extension (REPORT.PDF)
    extension = stem.slice(-extension.length);
    stem = stem.slice(0, -extension.length);
  }
  const codePoints = [...stem];
  if (codePoints.length > MAX_NAME_LENGTH) stem = codePoints.slice(0, MAX_NAME_LENGTH).join('').trimEnd();
  stem = stem.replace(/[\s.]+$/, '');
  if (!stem) stem = `${NAMELESS_STEM[type]}-${ordinalOfType}`;
  return stem + extension;
}

/** Makes names unique within one mail: the second "a.png" becomes "a (2).png", in order. */
export function uniqueFileNames(names: string[]): string[] {
  const seen = new Set<string>();
  return names.map((name) => {
    if (!seen.has(name.toLowerCase())) {
      seen.add(name.toLowerCase());
      return name;
    }
    const dot = name.lastIndexOf('.');
    const stem = dot > 0 ? name.slice(0, dot) : name;
    const extension = dot > 0 ? name.slice(dot) : '';
    for (let copy = 2; ; copy++) {
      const candidate = `${stem} (${copy})${extension}`;
      if (!seen.has(candidate.toLowerCase())) {
        seen.add(candidate.toLowerCase());
        return candidate;
      }
    }
  });
}
