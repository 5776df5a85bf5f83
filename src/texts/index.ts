/**
 * Every user-facing text, one catalog per language. Callers pick a language once (from the Telegram
 * user's `language_code`, or a setting) and read keys from `texts(language)`.
 */

import type { Texts } from './catalog.js';
import { en } from './en.js';
import { ru } from './ru.js';

export type { CommandDescriptions, LastReportLine, ListedMailbox, Texts } from './catalog.js';

/** The languages the bot speaks. */
export const LANGUAGES = ['ru', 'en'] as const;

/** One of {@link LANGUAGES}. */
export type Language = (typeof LANGUAGES)[number];

/** The language for anyone who is not known to prefer English. */
export const DEFAULT_LANGUAGE: Language = 'ru';

// A Record over Language: adding a language without a catalog is a type error.
const catalogs: Record<Language, Texts> = { ru, en };

/**
 * The language for a Telegram `language_code` (an IETF tag such as `en`, `en-GB`, `ru`): English for
 * `en` and `en-*`, Russian for everything else, including a missing code.
 */
export function languageFor(languageCode?: string | null): Language {
  return languageCode != null && /^en(?:[-_]|$)/i.test(languageCode.trim()) ? 'en' : DEFAULT_LANGUAGE;
}

/** The texts of one language. */
export function texts(language: Language): Texts {
  return catalogs[language];
}
