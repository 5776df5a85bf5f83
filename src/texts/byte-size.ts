/** Byte counts for people, in binary units (1 KB = 1024 bytes), like Telegram's own limits. */

/** Unit names from bytes upwards, e.g. `['B', 'KB', 'MB', 'GB']`. */
export type ByteUnits = readonly [string, string, string, string];

/**
 * `bytes` as a number with at most one decimal and a unit: `812 B`, `1.5 KB`, `50 MB`.
 * @param decimalSeparator '.' in English, ',' in Russian.
 * @throws RangeError when `bytes` is negative or not finite.
 */
export function formatByteSize(bytes: number, units: ByteUnits, decimalSeparator: string): string {
  if (!Number.isFinite(bytes) || bytes < 0) throw new RangeError(`not a byte count: ${bytes}`);
  if (bytes < 1024) return `${Math.round(bytes)} ${units[0]}`;

  let unit = 1;
  let value = bytes / 1024;
  // Move up while the value, once rounded to one decimal, would read 1024 or more ("1024 KB" → "1 MB").
  while (unit < units.length - 1 && Math.round(value * 10) / 10 >= 1024) {
    value /= 1024;
    unit++;
  }
  const rounded = (Math.round(value * 10) / 10).toFixed(1).replace(/\.0$/, '');
  return `${rounded.replace('.', decimalSeparator)} ${units[unit]}`;
}
