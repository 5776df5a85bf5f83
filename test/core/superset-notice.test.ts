/**
 * Superset's notices told apart from reports by subject AND body, in the shapes Superset's email.py,
 * webhook.py and execute.py produce (EN and RU locales), and report names matched across a retry run.
 */
import { describe, expect, it } from 'vitest';
import { isSameReport, recogniseSupersetNotice, reportNameOf } from '../../src/core/superset-notice.js';

/** The text html-summary takes from the 4.1+ error body (email.py `_error_template`). */
const ERROR_BODY =
  'Your report/alert was unable to be generated because of the following error: Contact the report owner for error details. Please check your dashboard/chart for errors.';

describe('recogniseSupersetNotice', () => {
  it('recognises the missing-content error mail: "[Report]  <name>" with the unable-to-be-generated body', () => {
    expect(recogniseSupersetNotice('[Report]  Weekly sales', ERROR_BODY)).toEqual({
      kind: 'error',
      reportName: 'Weekly sales',
    });
  });

  it('recognises the ≤ 4.0 body "Error: …" and the webhook shape (no prefix, plain text)', () => {
    expect(recogniseSupersetNotice('[Report] Weekly sales', 'Error: Timeout waiting for chart')?.kind).toBe(
      'error',
    );
    expect(
      recogniseSupersetNotice('Weekly sales', `${ERROR_BODY} "http://bi/superset/dashboard/1/"`),
    ).toEqual({
      kind: 'error',
      reportName: 'Weekly sales',
    });
  });

  it("recognises what the webhook POSTs: the schedule name and webhook.py's text (master) or the diagnostics (6.1)", () => {
    for (const text of [
      'Contact the report owner for error details.',
      'Unexpected missing screenshot',
      'Unexpected missing pdf',
      'Unexpected missing csv file',
      'Unexpected missing Excel file',
      'Обратитесь к владельцу отчёта за подробностями ошибки.',
    ]) {
      expect(recogniseSupersetNotice('Weekly sales', text), text).toEqual({
        kind: 'error',
        reportName: 'Weekly sales',
      });
    }
    // the webhook sends its text with a retry or a final failure too, should those ever come that way
    expect(
      recogniseSupersetNotice(
        'Report Retry [1 of 3]: Weekly sales',
        'Contact the report owner for error details.',
      ),
    ).toMatchObject({ kind: 'retry', attempt: 1 });
    expect(
      recogniseSupersetNotice(
        'Report Failed - All Retries Exhausted: Weekly sales',
        'Contact the report owner for error details.',
      )?.kind,
    ).toBe('final-failure');
    // a report whose description merely mentions a screenshot is no notice
    expect(recogniseSupersetNotice('Weekly sales', 'Screenshot of the sales dashboard')).toBeNull();
  });

  it('recognises the RU locale: a translated prefix and body', () => {
    expect(
      recogniseSupersetNotice(
        '[Отчёт]  Продажи за неделю',
        'Ваш отчёт не удалось сформировать из-за следующей ошибки: Обратитесь к владельцу отчёта.',
      ),
    ).toEqual({ kind: 'error', reportName: 'Продажи за неделю' });
    expect(recogniseSupersetNotice('[Report] Продажи', 'Ошибка: превышено время ожидания')?.kind).toBe(
      'error',
    );
  });

  it('recognises a retry notice with its attempt, EN and RU', () => {
    expect(
      recogniseSupersetNotice(
        'Report Retry [2 of 3]: Weekly sales: Sales dashboard',
        'Report Generation Failed — Retry in Progress. Attempt 2 of 3 failed.',
      ),
    ).toEqual({ kind: 'retry', reportName: 'Weekly sales: Sales dashboard', attempt: 2, maxAttempts: 3 });
    expect(
      recogniseSupersetNotice(
        'Повтор отчёта [1 из 3]: Продажи',
        'Не удалось сформировать отчёт, идёт повтор',
      ),
    ).toMatchObject({ kind: 'retry', reportName: 'Продажи', attempt: 1, maxAttempts: 3 });
  });

  it('recognises the final failure, EN and RU', () => {
    expect(
      recogniseSupersetNotice(
        'Report Failed - All Retries Exhausted: Weekly sales',
        'Report generation failed after 3 attempts.',
      ),
    ).toEqual({ kind: 'final-failure', reportName: 'Weekly sales' });
    expect(
      recogniseSupersetNotice(
        'Отчёт не сформирован — все попытки исчерпаны: Продажи',
        'Все попытки исчерпаны.',
      )?.kind,
    ).toBe('final-failure');
  });

  it('marks the editors-only error mail as for owners', () => {
    expect(recogniseSupersetNotice('[Report]  Error occurred for Report: Weekly sales', ERROR_BODY)).toEqual({
      kind: 'error',
      reportName: 'Weekly sales',
      ownersOnly: true,
    });
  });

  it('needs the body too: a subject alone, or an ordinary description, is no notice', () => {
    expect(recogniseSupersetNotice('Report Retry [2 of 3]: Weekly sales', 'Sales by region')).toBeNull();
    expect(
      recogniseSupersetNotice('Report Failed - All Retries Exhausted: Weekly sales', 'Numbers for Monday'),
    ).toBeNull();
    expect(
      recogniseSupersetNotice('[Report]  Weekly sales', 'Sales by region, Explore in Superset'),
    ).toBeNull();
    expect(recogniseSupersetNotice('[Report]  Weekly sales', '')).toBeNull();
    expect(recogniseSupersetNotice('', ERROR_BODY)).toBeNull();
  });

  it('keeps a hostile name bounded', () => {
    const notice = recogniseSupersetNotice(`[Report] ${'x'.repeat(5000)}`, ERROR_BODY);
    expect(Array.from(notice!.reportName).length).toBe(200);
  });
});

describe('report names across a run', () => {
  it('strips the subject prefix and matches "<name>" with "<name>: <dashboard>"', () => {
    expect(reportNameOf('[Report]  Weekly sales: Sales dashboard')).toBe('Weekly sales: Sales dashboard');
    expect(isSameReport('Weekly sales', 'Weekly sales: Sales dashboard')).toBe(true);
    expect(isSameReport('Weekly sales: Sales dashboard', 'weekly sales: sales dashboard')).toBe(true);
    expect(isSameReport('Weekly sales', 'Weekly salesmen: Board')).toBe(false);
    expect(isSameReport('Weekly sales: A', 'Weekly sales: B')).toBe(false);
  });
});
