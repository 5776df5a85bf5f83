/**
 * Message text and caption formatting as the Bot API server applies it before sending:
 * `parse_mode: "HTML"` parsed like TDLib's `parse_html` (nested tags, the same error wording with
 * UTF-8 byte offsets), explicit `entities`/`caption_entities` checked against the text in UTF-16
 * code units, and lengths counted in Unicode code points (TDLib `utf8_length`).
 * `Markdown`/`MarkdownV2` are accepted but not parsed: the text is kept as sent, without entities.
 */
import type { MessageEntity } from 'grammy/types';
import { badRequest } from './bot-api-error.js';

/** Text after entity parsing, with the entities the message will carry. */
export interface FormattedText {
  text: string;
  entities: MessageEntity[];
}

/** Length in Unicode code points, the unit of the 4096/1024 limits. */
export function codePointLength(text: string): number {
  let count = 0;
  for (const _ of text) count++;
  return count;
}

const ENTITY_TYPES = new Set([
  'mention',
  'hashtag',
  'cashtag',
  'bot_command',
  'url',
  'email',
  'phone_number',
  'bold',
  'italic',
  'underline',
  'strikethrough',
  'spoiler',
  'blockquote',
  'expandable_blockquote',
  'code',
  'pre',
  'text_link',
  'text_mention',
  'custom_emoji',
  'date_time',
]);

/**
 * Applies `parse_mode` or explicit entities to `text`. Explicit entities win over `parse_mode`, as on
 * the real server. Throws `BotApiError` 400 on unparsable markup or entities.
 */
export function formatText(text: string, parseMode: unknown, explicitEntities: unknown): FormattedText {
  if (explicitEntities !== undefined && explicitEntities !== null) {
    return { text, entities: validateEntities(text, explicitEntities) };
  }
  if (parseMode === undefined || parseMode === null || parseMode === '') return { text, entities: [] };
  if (typeof parseMode !== 'string') throw badRequest('unsupported parse_mode');
  switch (parseMode.toLowerCase()) {
    case 'html':
      return parseHtml(text);
    case 'markdown':
    case 'markdownv2':
      return { text, entities: [] };
    default:
      throw badRequest('unsupported parse_mode');
  }
}

function validateEntities(text: string, raw: unknown): MessageEntity[] {
  if (typeof raw === 'string') throw badRequest("can't parse entities JSON object");
  if (!Array.isArray(raw)) throw badRequest("can't parse entities JSON object: expected an Array");
  const utf16Length = text.length;
  const entities: MessageEntity[] = [];
  for (const item of raw) {
    if (typeof item !== 'object' || item === null) {
      throw badRequest("can't parse MessageEntity: expected an Object");
    }
    const entity = item as Record<string, unknown>;
    if (typeof entity.type !== 'string') {
      throw badRequest(`can't parse MessageEntity: Field "type" must be of type String`);
    }
    if (!ENTITY_TYPES.has(entity.type)) {
      throw badRequest("can't parse MessageEntity: Unsupported type specified");
    }
    for (const field of ['offset', 'length'] as const) {
      if (typeof entity[field] !== 'number' || !Number.isInteger(entity[field])) {
        throw badRequest(`can't parse MessageEntity: Field "${field}" must be a valid Number`);
      }
    }
    if (entity.type === 'text_link' && typeof entity.url !== 'string') {
      throw badRequest(`can't parse MessageEntity: Field "url" must be of type String`);
    }
    const offset = entity.offset as number;
    const length = entity.length as number;
    // TDLib drops empty and negative-offset entities instead of failing.
    if (length <= 0 || offset < 0) continue;
    if (offset + length > utf16Length) {
      throw badRequest(
        `entity beginning at UTF-16 offset ${offset} ends after the end of the text at UTF-16 offset ${offset + length}`,
      );
    }
    entities.push(entity as unknown as MessageEntity);
  }
  return sortEntities(entities);
}

function sortEntities(entities: MessageEntity[]): MessageEntity[] {
  return entities.sort((left, right) => left.offset - right.offset || right.length - left.length);
}

const SUPPORTED_TAGS = new Set([
  'a',
  'b',
  'strong',
  'i',
  'em',
  's',
  'strike',
  'del',
  'u',
  'ins',
  'tg-spoiler',
  'tg-emoji',
  'span',
  'pre',
  'code',
  'blockquote',
]);

interface OpenTag {
  name: string;
  attributes: Map<string, string>;
  /** UTF-16 offset in the result text where the tag's content begins. */
  start: number;
}

/** Parses Bot API HTML (a subset of HTML; see https://core.telegram.org/bots/api#html-style). */
export function parseHtml(html: string): FormattedText {
  const bytePrefix = utf8ByteOffsets(html);
  const fail: (message: string) => never = (message) => {
    throw badRequest(`can't parse entities: ${message}`);
  };
  let result = '';
  const entities: MessageEntity[] = [];
  const stack: OpenTag[] = [];
  let index = 0;

  while (index < html.length) {
    const char = html[index]!;
    if (char === '&') {
      const decoded = decodeHtmlEntity(html, index);
      if (decoded) {
        result += decoded.text;
        index = decoded.next;
        continue;
      }
    }
    if (char !== '<') {
      result += char;
      index++;
      continue;
    }

    const tagByteOffset = bytePrefix[index]!;
    if (html[index + 1] === '/') {
      // end tag
      const tag = stack.pop();
      if (tag === undefined) fail(`Unexpected end tag at byte offset ${tagByteOffset}`);
      index += 2;
      const nameStart = index;
      while (index < html.length && !isSpace(html[index]!) && html[index] !== '>') index++;
      const endName = html.slice(nameStart, index).toLowerCase();
      while (index < html.length && isSpace(html[index]!)) index++;
      if (html[index] !== '>') fail(`Unclosed end tag at byte offset ${tagByteOffset}`);
      index++;
      if (endName !== '' && endName !== tag.name) {
        fail(
          `Unmatched end tag at byte offset ${tagByteOffset}, expected "</${tag.name}>", found "</${endName}>"`,
        );
      }
      const entity = entityForTag(tag, result.length - tag.start, result, stack);
      if (entity) entities.push(entity);
      continue;
    }

    // start tag
    index++;
    const nameStart = index;
    while (index < html.length && !isSpace(html[index]!) && html[index] !== '>') index++;
    if (index >= html.length) fail(`Unclosed start tag at byte offset ${tagByteOffset}`);
    const name = html.slice(nameStart, index).toLowerCase();
    if (!SUPPORTED_TAGS.has(name)) fail(`Unsupported start tag "${name}" at byte offset ${tagByteOffset}`);

    const attributes = new Map<string, string>();
    for (;;) {
      while (index < html.length && isSpace(html[index]!)) index++;
      if (index >= html.length) fail(`Unclosed start tag at byte offset ${tagByteOffset}`);
      if (html[index] === '>') break;
      const attributeStart = index;
      while (index < html.length && !isSpace(html[index]!) && html[index] !== '=' && html[index] !== '>') {
        index++;
      }
      const attributeName = html.slice(attributeStart, index).toLowerCase();
      if (attributeName === '') {
        fail(`Empty attribute name in the tag "${name}" at byte offset ${tagByteOffset}`);
      }
      while (index < html.length && isSpace(html[index]!)) index++;
      if (html[index] !== '=') {
        attributes.set(attributeName, ''); // a valueless attribute, e.g. <blockquote expandable>
        continue;
      }
      index++;
      while (index < html.length && isSpace(html[index]!)) index++;
      if (index >= html.length) fail(`Unclosed start tag at byte offset ${tagByteOffset}`);
      let value = '';
      const quote = html[index];
      if (quote === '"' || quote === "'") {
        index++;
        while (index < html.length && html[index] !== quote) {
          const decoded = html[index] === '&' ? decodeHtmlEntity(html, index) : undefined;
          if (decoded) {
            value += decoded.text;
            index = decoded.next;
          } else {
            value += html[index];
            index++;
          }
        }
        if (index >= html.length) fail(`Unclosed start tag at byte offset ${tagByteOffset}`);
        index++;
      } else {
        const tokenStart = index;
        while (index < html.length && /[A-Za-z0-9.-]/.test(html[index]!)) index++;
        value = html.slice(tokenStart, index).toLowerCase();
        if (index < html.length && !isSpace(html[index]!) && html[index] !== '>') {
          fail(`Unexpected end of name token at byte offset ${bytePrefix[tokenStart]}`);
        }
      }
      attributes.set(attributeName, value);
    }
    index++; // '>'
    if (name === 'span' && attributes.get('class') !== 'tg-spoiler') {
      fail(`Tag "span" must have class "tg-spoiler" at byte offset ${tagByteOffset}`);
    }
    stack.push({ name, attributes, start: result.length });
  }

  const unclosed = stack.at(-1);
  if (unclosed) fail(`Can't find end tag corresponding to start tag "${unclosed.name}"`);
  return { text: result, entities: sortEntities(entities) };
}

function entityForTag(
  tag: OpenTag,
  length: number,
  text: string,
  stack: OpenTag[],
): MessageEntity | undefined {
  if (length <= 0) return undefined;
  const offset = tag.start;
  switch (tag.name) {
    case 'b':
    case 'strong':
      return { type: 'bold', offset, length };
    case 'i':
    case 'em':
      return { type: 'italic', offset, length };
    case 'u':
    case 'ins':
      return { type: 'underline', offset, length };
    case 's':
    case 'strike':
    case 'del':
      return { type: 'strikethrough', offset, length };
    case 'tg-spoiler':
    case 'span':
      return { type: 'spoiler', offset, length };
    case 'blockquote':
      return {
        type: tag.attributes.has('expandable') ? 'expandable_blockquote' : 'blockquote',
        offset,
        length,
      };
    case 'tg-emoji': {
      const id = tag.attributes.get('emoji-id');
      return id ? { type: 'custom_emoji', offset, length, custom_emoji_id: id } : undefined;
    }
    case 'code': {
      // <pre><code class="language-x"> is one pre entity with a language
      const parent = stack.at(-1);
      const language = /^language-(.+)$/.exec(tag.attributes.get('class') ?? '')?.[1];
      if (parent?.name === 'pre' && language !== undefined) {
        parent.attributes.set('language', language);
        return undefined;
      }
      return { type: 'code', offset, length };
    }
    case 'pre': {
      const language = tag.attributes.get('language');
      return language ? { type: 'pre', offset, length, language } : { type: 'pre', offset, length };
    }
    case 'a': {
      const url = tag.attributes.get('href') ?? text.slice(offset, offset + length);
      const userId = /^tg:\/\/user\?id=(\d+)$/i.exec(url)?.[1];
      if (userId !== undefined) {
        return {
          type: 'text_mention',
          offset,
          length,
          user: { id: Number(userId), is_bot: false, first_name: '' },
        };
      }
      return { type: 'text_link', offset, length, url };
    }
    default:
      return undefined;
  }
}

function isSpace(char: string): boolean {
  return char === ' ' || char === '\t' || char === '\r' || char === '\n';
}

/** TDLib `decode_html_entity`: &lt; &gt; &amp; &quot; and numeric references; others stay literal. */
function decodeHtmlEntity(html: string, index: number): { text: string; next: number } | undefined {
  let end = index + 1;
  let codePoint = 0;
  if (html[end] === '#') {
    end++;
    const hex = html[end] === 'x' || html[end] === 'X';
    if (hex) end++;
    const digitsStart = end;
    while (end < html.length && (hex ? /[0-9a-fA-F]/ : /[0-9]/).test(html[end]!)) end++;
    if (end === digitsStart || end - index >= 10) return undefined;
    codePoint = Number.parseInt(html.slice(digitsStart, end), hex ? 16 : 10);
    if (codePoint === 0 || codePoint >= 0x10ffff) return undefined;
  } else {
    while (end < html.length && /[A-Za-z]/.test(html[end]!)) end++;
    const name = html.slice(index + 1, end);
    const named: Record<string, number> = { lt: 0x3c, gt: 0x3e, amp: 0x26, quot: 0x22 };
    const value = named[name];
    if (value === undefined) return undefined;
    codePoint = value;
  }
  if (html[end] === ';') end++;
  return { text: String.fromCodePoint(codePoint), next: end };
}

/** UTF-8 byte offset of every UTF-16 index of `text` (for error messages). */
function utf8ByteOffsets(text: string): number[] {
  const offsets: number[] = new Array(text.length + 1);
  let bytes = 0;
  for (let index = 0; index < text.length; index++) {
    offsets[index] = bytes;
    const code = text.charCodeAt(index);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff) bytes += 4;
    else if (code >= 0xdc00 && code <= 0xdfff) bytes += 0;
    else bytes += 3;
  }
  offsets[text.length] = bytes;
  return offsets;
}
