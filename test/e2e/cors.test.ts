/**
 * CORS on the local runner: a page on another origin can call the API only when that origin is
 * allowed (LOCAL_CORS_ORIGINS, or Host.CORS in local.settings.json, as `func start` reads it).
 */
import { startTestStack, type TestStack } from '../support/stack';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({ LOCAL_CORS_ORIGINS: 'http://app.example, http://other.example/' });
});
afterAll(async () => {
  await stack?.cleanup();
});

test('an allowed origin gets its preflight answered and may read the answers', async () => {
  const preflight = await fetch(`${stack.apiUrl}/meetings`, {
    method: 'OPTIONS',
    headers: {
      origin: 'http://app.example',
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'content-type, authorization',
    },
  });
  expect(preflight.status).toBe(204);
  expect(preflight.headers.get('access-control-allow-origin')).toBe('http://app.example');
  expect(preflight.headers.get('access-control-allow-methods')).toContain('POST');
  expect(preflight.headers.get('access-control-allow-headers')).toContain('authorization');

  const created = await fetch(`${stack.apiUrl}/meetings`, {
    method: 'POST',
    headers: { origin: 'http://other.example', 'content-type': 'application/json' },
    body: JSON.stringify({ title: 'From another origin' }),
  });
  expect(created.status).toBe(201);
  expect(created.headers.get('access-control-allow-origin')).toBe('http://other.example');
  expect(created.headers.get('access-control-expose-headers')).toContain('location');
});

test('an origin that is not allowed gets no CORS headers, so its browser refuses the answer', async () => {
  const preflight = await fetch(`${stack.apiUrl}/meetings`, {
    method: 'OPTIONS',
    headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST' },
  });
  expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
  expect(preflight.status).toBe(405);
  const health = await fetch(`${stack.apiUrl}/health`, { headers: { origin: 'http://evil.example' } });
  expect(health.headers.get('access-control-allow-origin')).toBeNull();
});
