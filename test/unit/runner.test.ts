import { RouteTemplate, splitPath } from '../../local/runner/routes';
import { parseTriggerKinds } from '../../local/runner/runner';
import { Schedule } from '../../local/runner/timerTrigger';

describe('route templates', () => {
  const match = (template: string, path: string) => new RouteTemplate(template).match(splitPath(path)!);

  test('parameters capture one decoded segment and literals match case-insensitively', () => {
    expect(match('api/meetings/{meetingId}/events', '/API/Meetings/abc%20d/events')).toEqual({
      params: { meetingId: 'abc d' },
    });
    expect(match('api/meetings/{meetingId}/events', '/api/meetings/abc/other')).toBeUndefined();
    expect(match('api/meetings/{meetingId}', '/api/meetings/a/b')).toBeUndefined();
  });

  test('optional, catch-all and constrained parameters', () => {
    expect(match('api/items/{id?}', '/api/items')).toEqual({ params: {} });
    expect(match('api/files/{*rest}', '/api/files/a/b/c')).toEqual({ params: { rest: 'a/b/c' } });
    expect(match('api/n/{id:int}', '/api/n/12')).toEqual({ params: { id: '12' } });
    expect(match('api/n/{id:int}', '/api/n/x')).toBeUndefined();
  });

  test('literal segments are more specific than parameters', () => {
    expect(new RouteTemplate('api/meetings/{id}').specificity).toBeLessThan(
      new RouteTemplate('api/meetings/health').specificity,
    );
  });

  test('a path that is not valid percent-encoding is refused', () => {
    expect(splitPath('/api/%E0%A4%A')).toBeUndefined();
  });
});

describe('timer schedules', () => {
  const at = (iso: string) => new Date(iso);

  test('six-field NCRONTAB with steps fires on the next matching second (UTC)', () => {
    const s = new Schedule('*/5 * * * * *');
    expect(s.next(at('2026-01-01T00:00:03Z')).toISOString()).toBe('2026-01-01T00:00:05.000Z');
    expect(s.next(at('2026-01-01T00:00:05Z')).toISOString()).toBe('2026-01-01T00:00:10.000Z');
  });

  test('lists, ranges and day-of-week', () => {
    // 09:30:00 on weekdays; 2026-01-03 is a Saturday.
    const s = new Schedule('0 30 9 * * 1-5');
    expect(s.next(at('2026-01-02T10:00:00Z')).toISOString()).toBe('2026-01-05T09:30:00.000Z');
    expect(new Schedule('0 0,15 * * * *').next(at('2026-01-01T00:00:00Z')).toISOString()).toBe(
      '2026-01-01T00:15:00.000Z',
    );
  });

  test('a yearly schedule finds its next occurrence without scanning every second', () => {
    const started = performance.now();
    const next = new Schedule('0 0 0 1 1 *').next(at('2026-03-15T12:00:00Z'));
    expect(next.toISOString()).toBe('2027-01-01T00:00:00.000Z');
    expect(performance.now() - started).toBeLessThan(200);
  });

  test('the 31st only matches months that have one, and Feb 29 waits for a leap year', () => {
    expect(new Schedule('0 0 0 31 * *').next(at('2026-04-01T00:00:00Z')).toISOString()).toBe(
      '2026-05-31T00:00:00.000Z',
    );
    expect(new Schedule('0 0 0 29 2 *').next(at('2026-01-01T00:00:00Z')).toISOString()).toBe(
      '2028-02-29T00:00:00.000Z',
    );
  });

  test('TimeSpan schedules fire at a fixed interval', () => {
    expect(new Schedule('00:00:02').next(at('2026-01-01T00:00:00Z')).toISOString()).toBe(
      '2026-01-01T00:00:02.000Z',
    );
  });

  test('malformed schedules are refused with a clear message', () => {
    expect(() => new Schedule('* * * * *')).toThrow(/6 NCRONTAB fields/);
    expect(() => new Schedule('61 * * * * *')).toThrow(/invalid cron field/);
  });
});

describe('trigger kinds a runner process serves (RUNNER_TRIGGERS)', () => {
  test('unset serves everything; a list selects kinds; an unknown kind is refused', () => {
    expect(parseTriggerKinds(undefined)).toBeUndefined();
    expect(parseTriggerKinds('')).toBeUndefined();
    expect([...parseTriggerKinds('http')!]).toEqual(['http']);
    expect([...parseTriggerKinds(' cosmosDB , timer ')!].sort()).toEqual(['cosmosDB', 'timer']);
    expect(() => parseTriggerKinds('http,queue')).toThrow(/queue/);
  });
});
