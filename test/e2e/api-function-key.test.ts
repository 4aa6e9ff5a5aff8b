/**
 * Organiser auth for creating meetings: open locally unless LOCAL_FUNCTION_KEY is set, and then
 * enforced by the runner like Azure enforces authLevel "function" (x-functions-key or ?code=).
 */
import { api, startTestStack, type TestStack } from '../support/stack';

const KEY = 'local-organiser-key-0123456789';

describe('creating meetings with a function key configured', () => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await startTestStack({ LOCAL_FUNCTION_KEY: KEY });
  });

  afterAll(async () => {
    await stack?.cleanup();
  });

  const create = (opts: { headers?: Record<string, string>; query?: string } = {}) =>
    api<{ meeting: { id: string }; joinCode: string }>(stack, 'POST', `/meetings${opts.query ?? ''}`, {
      body: { title: 'Keyed' },
      headers: opts.headers,
    });

  test('without the key, or with a wrong one, creating a meeting is refused with 401 problem+json', async () => {
    for (const res of [
      await create(),
      await create({ headers: { 'x-functions-key': 'wrong' } }),
      await create({ query: '?code=wrong' }),
      await create({ headers: { 'x-functions-key': `${KEY}x` } }),
    ]) {
      expect(res.status).toBe(401);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
    }
  });

  test('with the key in x-functions-key or ?code= it is created, and anonymous routes need no key', async () => {
    expect((await create({ headers: { 'x-functions-key': KEY } })).status).toBe(201);
    const viaQuery = await create({ query: `?code=${KEY}` });
    expect(viaQuery.status).toBe(201);
    const joined = await api(stack, 'POST', `/meetings/${viaQuery.body.meeting.id}/join`, {
      body: { displayName: 'Ann', joinCode: viaQuery.body.joinCode },
    });
    expect(joined.status).toBe(201);
    expect((await api(stack, 'GET', '/health')).status).toBe(200);
  });
});
