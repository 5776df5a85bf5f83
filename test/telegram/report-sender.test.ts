/** The caption of a TEXT report's table message in Telegram HTML: everything escaped, the link kept. */
import { describe, expect, it } from 'vitest';
import { buildCaption } from '../../src/core/caption.js';
import { captionHtml } from '../../src/telegram/report-sender.js';

describe('captionHtml', () => {
  it('escapes the subject and the URL and turns the text_link into <a href>', () => {
    const caption = buildCaption({
      subject: 'Sales <b>&</b> "Q3"',
      link: 'https://bi.example.com/d/?a=1&b="x"',
      linkLabel: 'Открыть в Superset',
    });
    expect(captionHtml(caption, false)).toBe(
      'Sales &lt;b&gt;&amp;&lt;/b&gt; &quot;Q3&quot;\n<a href="https://bi.example.com/d/?a=1&amp;b=%22x%22">Открыть в Superset</a>',
    );
  });

  it('without entities (a refused caption) it is the escaped text alone', () => {
    const caption = buildCaption({ subject: 'a<b', link: 'https://bi.example.com/', linkLabel: 'Open' });
    expect(captionHtml(caption, true)).toBe('a&lt;b\nOpen');
  });
});
