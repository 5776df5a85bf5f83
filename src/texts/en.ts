import { DEFAULT_PLAN_LIMITS } from '../core/message-plan.js';
import { formatByteSize } from './byte-size.js';
import type { Texts } from './catalog.js';

const formatSize = (bytes: number): string => formatByteSize(bytes, ['B', 'KB', 'MB', 'GB'], '.');

/** English: for users whose Telegram language is English. */
export const en: Texts = {
  linkLabel: 'Open in Superset',
  tooLargeNotice: (filename, size, limitBytes = DEFAULT_PLAN_LIMITS.uploadMaxBytes) =>
    `📎 “${filename}” (${formatSize(size)}) is over Telegram's limit for bots (${formatSize(limitBytes)}) and was not sent.`,
  formatSize,
};
