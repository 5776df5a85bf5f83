/** The texts of /last, the quiet-hours note of /help and the "not produced" notice, in both languages. */
import { describe, expect, it } from 'vitest';
import { type LastReportLine, texts } from '../../src/texts/index.js';

const lines: LastReportLine[] = [
  { mailbox: 'a@x.ru', state: 'queued', subject: 'Продажи', receivedAt: '2026-12-03T06:00:00Z' },
  { mailbox: 'b@x.ru', state: 'pending', subject: 'Склад', receivedAt: '2026-12-03T07:00:00Z' },
  { mailbox: 'c@x.ru', state: 'gone', subject: 'Касса', receivedAt: '2026-11-01T07:00:00Z' },
  { mailbox: 'd@x.ru', state: 'none' },
];

describe('/last texts', () => {
  it('says per mailbox what happens, in Russian', () => {
    const answer = texts('ru').lastReports(lines).split('\n');
    expect(answer).toHaveLength(4);
    expect(answer[0]).toMatch(/^• a@x\.ru: отправляю «Продажи» от \d\d\.\d\d, \d\d:\d\d$/);
    expect(answer[1]).toMatch(/^• b@x\.ru: «Склад» от .+ уже в пути$/);
    expect(answer[2]).toMatch(/^• c@x\.ru: последний отчёт «Касса» от .+ больше не хранится$/);
    expect(answer[3]).toBe('• d@x.ru: отчётов ещё не было');
  });

  it('says per mailbox what happens, in English', () => {
    const answer = texts('en').lastReports(lines).split('\n');
    expect(answer[0]).toMatch(/^• a@x\.ru: sending “Продажи” of \d{1,2} Dec, \d\d:\d\d$/);
    expect(answer[2]).toContain('is no longer kept');
    expect(answer[3]).toBe('• d@x.ru: no report yet');
  });
});

describe('/help quiet hours and the notice', () => {
  it('renders the quiet hours and the report name as given', () => {
    expect(texts('ru').quietHoursNote('22:00-08:00')).toBe('С 22:00 до 08:00 отчёты приходят без звука.');
    expect(texts('en').quietHoursNote('22:00-08:00')).toBe(
      'Reports arriving 22:00 to 08:00 come without sound.',
    );
    expect(texts('ru').reportNotProduced('*Продажи*')).toBe('⚠️ Отчёт «*Продажи*» сегодня не сформирован.');
    expect(texts('en').reportNotProduced('Sales')).toBe('⚠️ The report “Sales” was not produced today.');
  });
});
