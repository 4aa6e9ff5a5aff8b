import { ConfigError, readConfig } from '../../lib/config';
import { signParticipantToken, verifyParticipantToken } from '../../lib/tokens';

const SECRET = 'x'.repeat(40);
const NOW = Date.parse('2026-06-01T12:00:00Z');
const claims = {
  meetingId: 'm1',
  participantId: 'p1',
  role: 'attendee' as const,
  expiresAt: NOW / 1000 + 60,
};

describe('participant tokens', () => {
  test('a token verifies with the secret it was signed with and names its meeting, participant and role', () => {
    const check = verifyParticipantToken(signParticipantToken(claims, SECRET, NOW), SECRET, NOW);
    expect(check).toEqual({ ok: true, claims });
  });

  test('an expired token is refused as expired', () => {
    const token = signParticipantToken(claims, SECRET, NOW);
    expect(verifyParticipantToken(token, SECRET, NOW + 61_000)).toEqual({ ok: false, reason: 'expired' });
  });

  test('a token signed with another secret or with an edited payload is refused', () => {
    const token = signParticipantToken(claims, SECRET, NOW);
    expect(verifyParticipantToken(token, 'y'.repeat(40), NOW)).toEqual({ ok: false, reason: 'signature' });
    const [h, p, s] = token.split('.');
    const forged = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(p!, 'base64url').toString()), role: 'host' }),
    ).toString('base64url');
    expect(verifyParticipantToken(`${h}.${forged}.${s}`, SECRET, NOW)).toEqual({
      ok: false,
      reason: 'signature',
    });
  });

  test('a token claiming another algorithm is refused before any signature check', () => {
    const token = signParticipantToken(claims, SECRET, NOW);
    const none = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    const [, p] = token.split('.');
    expect(verifyParticipantToken(`${none}.${p}.`, SECRET, NOW)).toEqual({ ok: false, reason: 'malformed' });
  });
});

describe('configuration', () => {
  const valid = {
    CosmosDBConnection: 'AccountEndpoint=https://acct.documents.azure.com:443/;AccountKey=abc==;',
    WebPubSubConnectionString: 'Endpoint=https://hub.webpubsub.azure.com;AccessKey=k;Version=1.0;',
    MEETSTREAM_TOKEN_SECRET: SECRET,
  };

  test('valid settings produce a config with defaults filled in', () => {
    const config = readConfig(valid);
    expect(config.cosmos).toMatchObject({
      endpoint: 'https://acct.documents.azure.com:443/',
      database: 'meetstream',
    });
    expect(config.changeFeed.maxItemsPerInvocation).toBe(100);
  });

  test('every problem is reported at once, and secrets are never echoed', () => {
    let error: unknown;
    try {
      readConfig({
        CosmosDBConnection: 'embedded',
        MEETSTREAM_TOKEN_SECRET: 'short-secret',
        CHANGE_FEED_MAX_ITEMS: '0',
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringContaining('CosmosDBConnection must be a connection string'),
        expect.stringContaining('WebPubSubConnectionString (connection string) or'),
        'MEETSTREAM_TOKEN_SECRET must be at least 32 bytes',
        expect.stringContaining('CHANGE_FEED_MAX_ITEMS'),
      ]),
    );
    expect((error as Error).message).not.toContain('short-secret');
  });
});
