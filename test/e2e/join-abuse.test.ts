/**
 * Joining is the one unauthenticated participant route: the join code is the credential. Wrong
 * codes are limited per client address (so codes cannot be guessed) and joins per meeting (so a
 * leaked code cannot fill a meeting in a second). Small limits here so the buckets empty quickly.
 */
import * as http from 'node:http';
import { createMeeting, startTestStack, type TestStack } from '../support/stack';

interface Answer {
  status: number;
  retryAfter: number;
  type: string | undefined;
  contentType: string | undefined;
}

/** POST …/join from a given loopback address (127.0.0.0/8 is all loopback on Linux). */
function joinFrom(
  stack: TestStack,
  from: string,
  meetingId: string,
  joinCode: string,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const body = JSON.stringify({ displayName: 'Guest', joinCode });
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${stack.apiUrl}/meetings/${meetingId}/join`,
      {
        method: 'POST',
        localAddress: from,
        agent: false,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          ...headers,
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          let type: string | undefined;
          try {
            type = (JSON.parse(text) as { type?: string }).type;
          } catch {
            type = undefined;
          }
          resolve({
            status: res.statusCode ?? 0,
            retryAfter: Number(res.headers['retry-after'] ?? 0),
            type,
            contentType: res.headers['content-type'],
          });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('join abuse limits', () => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await startTestStack({
      RATE_LIMIT_JOIN_FAILURES_BURST: '3',
      RATE_LIMIT_JOIN_FAILURES_PER_SECOND: '0.05',
      RATE_LIMIT_JOINS_BURST: '3',
      RATE_LIMIT_JOINS_PER_SECOND: '0.1',
    });
  });

  afterAll(async () => {
    await stack?.cleanup();
  });

  test('once an address spent its wrong-code budget it gets 429 even with the right code; right codes cost nothing; other addresses are unaffected', async () => {
    const a = await createMeeting(stack, 'Guessing target');
    const b = await createMeeting(stack, 'Elsewhere');
    // Right codes never count against the address.
    for (const m of [a, a, b])
      expect((await joinFrom(stack, '127.0.0.2', m.meetingId, m.joinCode)).status).toBe(201);
    // Wrong codes and unknown meetings do, and are answered as such while the budget lasts.
    expect((await joinFrom(stack, '127.0.0.2', a.meetingId, 'WRONGCODE1')).status).toBe(403);
    expect((await joinFrom(stack, '127.0.0.2', 'nosuchmeeting00', a.joinCode)).status).toBe(404);
    expect((await joinFrom(stack, '127.0.0.2', b.meetingId, 'WRONGCODE2')).status).toBe(403);
    // Now the address learns nothing more: the right code and a wrong one get the same answer.
    for (const code of [b.joinCode, 'WRONGCODE3']) {
      const refused = await joinFrom(stack, '127.0.0.2', b.meetingId, code);
      expect(refused).toMatchObject({
        status: 429,
        type: 'urn:meetstream:problem:rate-limited',
        contentType: 'application/problem+json',
      });
      expect(refused.retryAfter).toBeGreaterThanOrEqual(15);
    }
    // A forged X-Forwarded-For does not buy a fresh budget: the platform's own entry is the last.
    expect(
      (await joinFrom(stack, '127.0.0.2', b.meetingId, b.joinCode, { 'x-forwarded-for': '203.0.113.9' }))
        .status,
    ).toBe(429);
    // Someone else, at another address, joins as usual.
    expect((await joinFrom(stack, '127.0.0.3', b.meetingId, b.joinCode)).status).toBe(201);
  });

  test('many people joining at once from one address (an office behind one gateway) are all let in', async () => {
    // More simultaneous right-code joins than the address's wrong-code budget (3): only
    // failures may count against an address, or everyone behind one NAT is refused.
    const meetings = await Promise.all([1, 2, 3].map((i) => createMeeting(stack, `Office ${i}`)));
    const answers = await Promise.all(
      meetings.flatMap((m) => [1, 2, 3].map(() => joinFrom(stack, '127.0.0.4', m.meetingId, m.joinCode))),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(9).fill(201));
  });

  test('the address the functions see is the peer the host proxy saw, whatever X-Forwarded-For the client sent', async () => {
    const m = await createMeeting(stack, 'Forged');
    for (const forged of ['198.51.100.1', '198.51.100.2', '198.51.100.3'])
      expect(
        (await joinFrom(stack, '127.0.0.5', m.meetingId, 'WRONGCODE9', { 'x-forwarded-for': forged })).status,
      ).toBe(403);
    // The budget was charged to 127.0.0.5 each time, not to three forged addresses.
    expect(
      (await joinFrom(stack, '127.0.0.5', m.meetingId, m.joinCode, { 'x-forwarded-for': '198.51.100.4' }))
        .status,
    ).toBe(429);
  });

  test('a burst of joins to one meeting beyond its budget gets 429 with Retry-After; other meetings are unaffected', async () => {
    const busy = await createMeeting(stack, 'Busy');
    const quiet = await createMeeting(stack, 'Quiet');
    const answers = [];
    for (let i = 0; i < 4; i++)
      answers.push(await joinFrom(stack, '127.0.0.4', busy.meetingId, busy.joinCode));
    expect(answers.map((a) => a.status)).toEqual([201, 201, 201, 429]);
    expect(answers[3]!.retryAfter).toBeGreaterThanOrEqual(1);
    expect((await joinFrom(stack, '127.0.0.4', quiet.meetingId, quiet.joinCode)).status).toBe(201);
  });
});
