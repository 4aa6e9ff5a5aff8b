/** Token buckets: burst, sustained refill, Retry-After, isolation, refunds, settings. */
import { ConfigError, DEFAULT_RATE_LIMITS, readConfig } from '../../lib/config';
import { RateLimiter } from '../../lib/rateLimit';

describe('rate limits', () => {
  const limits = {
    events: { perSecond: 10, burst: 100 },
    requests: { perSecond: 2, burst: 5 },
    joins: { perSecond: 1, burst: 3 },
    joinFailures: { perSecond: 0.1, burst: 2 },
  };

  test('a full bucket allows a burst, then refuses with the seconds until the cost fits', () => {
    let now = 0;
    const limiter = new RateLimiter(limits, () => now);
    expect(limiter.take('events', 'p1', 100)).toEqual({ ok: true });
    expect(limiter.take('events', 'p1', 1)).toEqual({ ok: false, retryAfterSeconds: 1 });
    expect(limiter.take('events', 'p1', 35)).toEqual({ ok: false, retryAfterSeconds: 4 });
    now = 3500;
    expect(limiter.take('events', 'p1', 35)).toEqual({ ok: true });
    expect(limiter.take('events', 'p1', 1)).toEqual({ ok: false, retryAfterSeconds: 1 });
  });

  test('the bucket never holds more than its burst, however long it was idle', () => {
    let now = 0;
    const limiter = new RateLimiter(limits, () => now);
    limiter.take('requests', 'p1', 5);
    now = 3_600_000;
    expect(limiter.take('requests', 'p1', 5)).toEqual({ ok: true });
    expect(limiter.take('requests', 'p1', 1).ok).toBe(false);
  });

  test('participants and kinds have separate buckets', () => {
    const limiter = new RateLimiter(limits, () => 0);
    expect(limiter.take('requests', 'p1', 5).ok).toBe(true);
    expect(limiter.take('requests', 'p1', 1).ok).toBe(false);
    expect(limiter.take('requests', 'p2', 1).ok).toBe(true);
    expect(limiter.take('events', 'p1', 1).ok).toBe(true);
  });

  test('a check tells whether the tokens are there and spends nothing', () => {
    const limiter = new RateLimiter(limits, () => 0);
    for (let i = 0; i < 5; i++) expect(limiter.check('joinFailures', '10.0.0.1', 2).ok).toBe(true);
    expect(limiter.take('joinFailures', '10.0.0.1', 2).ok).toBe(true);
    expect(limiter.check('joinFailures', '10.0.0.1')).toEqual({ ok: false, retryAfterSeconds: 10 });
    expect(limiter.take('joinFailures', '10.0.0.1')).toEqual({ ok: false, retryAfterSeconds: 10 });
  });

  test('idle buckets of every kind are dropped when there are very many, busy ones kept', () => {
    let now = 0;
    const limiter = new RateLimiter(limits, () => now);
    expect(limiter.take('joins', 'busy', 3).ok).toBe(true);
    for (let i = 0; i < 50_000; i++) limiter.take('joinFailures', `addr-${i}`, 0);
    now = 1;
    limiter.take('requests', 'trigger-prune', 0);
    expect(limiter.take('joins', 'busy').ok).toBe(false);
    expect((limiter as unknown as { buckets: Map<string, unknown> }).buckets.size).toBeLessThan(10);
  });

  test('settings override the defaults; the events burst must hold a full batch', () => {
    const base = {
      CosmosDBConnection: 'AccountEndpoint=https://a.documents.azure.com:443/;AccountKey=k==;',
      WebPubSubConnectionString: 'Endpoint=https://h.webpubsub.azure.com;AccessKey=k;Version=1.0;',
      MEETSTREAM_TOKEN_SECRET: 'x'.repeat(40),
    };
    expect(readConfig(base).rateLimits).toEqual(DEFAULT_RATE_LIMITS);
    expect(
      readConfig({ ...base, RATE_LIMIT_EVENTS_PER_SECOND: '50', RATE_LIMIT_EVENTS_BURST: '500' }).rateLimits
        .events,
    ).toEqual({ perSecond: 50, burst: 500 });
    expect(() => readConfig({ ...base, RATE_LIMIT_EVENTS_BURST: '99' })).toThrow(ConfigError);
    expect(() => readConfig({ ...base, RATE_LIMIT_REQUESTS_PER_SECOND: 'fast' })).toThrow(ConfigError);
    expect(
      readConfig({ ...base, RATE_LIMIT_JOIN_FAILURES_PER_SECOND: '0.5', RATE_LIMIT_JOINS_BURST: '1000' })
        .rateLimits,
    ).toMatchObject({ joinFailures: { perSecond: 0.5, burst: 10 }, joins: { perSecond: 20, burst: 1000 } });
    expect(() => readConfig({ ...base, RATE_LIMIT_JOINS_BURST: '0' })).toThrow(ConfigError);
  });
});
