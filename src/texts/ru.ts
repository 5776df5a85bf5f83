import { DEFAULT_PLAN_LIMITS } from '../core/message-plan.js';
import { formatByteSize } from './byte-size.js';
import type { Texts } from './catalog.js';

const formatSize = (bytes: number): string => formatByteSize(bytes, ['Б', 'КБ', 'МБ', 'ГБ'], ',');

/** Russian: the default language. */
export const ru: Texts = {
  linkLabel: 'Открыть в Superset',
  tooLargeNotice: (filename, size, limitBytes = DEFAULT_PLAN_LIMITS.uploadMaxBytes) =>
    `📎 «${filename}» (${formatSize(size)}) больше лимита Telegram для ботов (${formatSize(limitBytes)}) и не отправлен.`,
  formatSize,
};
