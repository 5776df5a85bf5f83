/**
 * Phone numbers compared the same way on both sides (the directory and Telegram's contact): E.164 via
 * libphonenumber-js. "8 (999) 123-45-67", "+7 999 1234567" and "79991234567" are one number in RU.
 */
import { type CountryCode, isSupportedCountry, parsePhoneNumberFromString } from 'libphonenumber-js/max';

/** Whether a region code (e.g. `RU`) is one libphonenumber-js knows. */
export function isPhoneRegion(region: string): region is CountryCode {
  return isSupportedCountry(region);
}

/**
 * The E.164 form of a phone number (`+79991234567`), or null when it is not a valid number. Numbers
 * without a country code are read in `defaultRegion`; digits that only make sense with a leading `+`
 * (Telegram sends contacts as `79991234567`) are tried that way too.
 */
export function normalizePhone(input: string, defaultRegion: CountryCode): string | null {
  const text = input.trim();
  if (!/\d/.test(text)) return null;
  const candidates = [text];
  const digits = text.replace(/\D/g, '');
  if (!text.startsWith('+')) {
    candidates.push(`+${digits}`);
    if (digits.startsWith('00')) candidates.push(`+${digits.slice(2)}`);
  }
  for (const candidate of candidates) {
    const parsed = parsePhoneNumberFromString(candidate, defaultRegion);
    if (parsed?.isValid()) return parsed.number;
  }
  return null;
}

/** A phone number with its middle digits hidden, for admin messages: +7999***4567. */
export function maskPhone(phone: string): string {
  const digits = phone.replace(/\D/g, '');
  if (digits.length < 7) return '***';
  return `+${digits.slice(0, 4)}***${digits.slice(-4)}`;
}
