/** The link and description of an HTML body, and the bounds on the work one body can cost. */
import { describe, expect, it } from 'vitest';
import { HtmlSummarizer, MAX_ELEMENT_DEPTH, summarizeHtml } from '../../src/mail/html-summary.js';

const CTA = '<b><a href="https://bi.example.com/superset/dashboard/1/">Explore in Superset</a></b>';

describe('summarizeHtml', () => {
  it('prefers the "Explore in Superset" link and lists the others after it', () => {
    const summary = summarizeHtml(
      `<div>Sales <a href="https://docs.example.com/kpi">see the docs</a></div><br>${CTA}` +
        '<a href="mailto:bi@example.com">mail</a><a href="https://other.example.com/">other</a>',
    );
    expect(summary.link).toBe('https://bi.example.com/superset/dashboard/1/');
    expect(summary.links).toEqual([
      'https://bi.example.com/superset/dashboard/1/',
      'https://docs.example.com/kpi',
      'https://other.example.com/',
    ]);
    expect(summary.description).toBe('Sales see the docs');
  });

  it('reads the call to action across inline tags and decodes entities', () => {
    const summary = summarizeHtml(
      '<p>Q&amp;A &laquo;report&raquo;</p><a href="https://bi.example.com/x?a=1&amp;b=2">Explore in <i>Superset</i></a>',
    );
    expect(summary.link).toBe('https://bi.example.com/x?a=1&b=2');
    expect(summary.description).toBe('Q&A «report»');
  });

  it('leaves out style, script and head text', () => {
    const summary = summarizeHtml(
      '<html><head><style>td { color: red }</style><title>T</title></head><body><script>x()</script><div>Visible</div></body></html>',
    );
    expect(summary).toEqual({ link: null, description: 'Visible', links: [] });
  });

  it('gives the same result whatever the pieces the body arrives in', () => {
    const html = `<div>Weekly &amp; daily</div><br>${CTA}<p>after</p>`;
    const whole = summarizeHtml(html);
    const summarizer = new HtmlSummarizer();
    for (const piece of html.match(/[\s\S]{1,3}/g)!) summarizer.write(piece);
    expect(summarizer.end()).toEqual(whole);
  });

  it('stops at the nesting cap and keeps what came before it', () => {
    const html = `<div>Before</div>${CTA}${'<div>'.repeat(MAX_ELEMENT_DEPTH + 1)}<a href="https://late.example.com/">late</a>`;
    const summary = summarizeHtml(html);
    expect(summary.link).toBe('https://bi.example.com/superset/dashboard/1/');
    expect(summary.links).not.toContain('https://late.example.com/');
    // one level less is still read
    expect(
      summarizeHtml(`${'<div>'.repeat(MAX_ELEMENT_DEPTH - 2)}<a href="https://late.example.com/">late</a>`)
        .links,
    ).toEqual(['https://late.example.com/']);
  });
});
