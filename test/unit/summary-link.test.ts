/**
 * Summary link tokens: one purpose (the summary), five minutes, one meeting; never a participant
 * token or a stream ticket, and neither of those opens the summary by link.
 */
import {
  SUMMARY_LINK_SECONDS,
  signParticipantToken,
  signStreamTicket,
  signSummaryLink,
  verifyParticipantToken,
} from '../../lib/tokens';

const secret = 's'.repeat(40);
const now = Date.UTC(2026, 5, 1, 12);
const claims = {
  meetingId: 'ZUqB2pcmOqg5hFYW',
  participantId: 'k3tV0aWq2Tn1zXcE',
  role: 'attendee' as const,
  expiresAt: now / 1000 + 3600,
};

describe('summary link tokens', () => {
  test('open the summary for at most five minutes, and never past the participant token', () => {
    const { token, expiresAt } = signSummaryLink(claims, secret, now);
    expect(expiresAt).toBe(now / 1000 + SUMMARY_LINK_SECONDS);
    expect(SUMMARY_LINK_SECONDS).toBeLessThanOrEqual(300);
    expect(verifyParticipantToken(token, secret, now + 1000, 'summary')).toEqual({
      ok: true,
      claims: { ...claims, expiresAt },
    });
    expect(verifyParticipantToken(token, secret, now + SUMMARY_LINK_SECONDS * 1000, 'summary')).toEqual({
      ok: false,
      reason: 'expired',
    });
    const short = signSummaryLink({ ...claims, expiresAt: now / 1000 + 10 }, secret, now);
    expect(short.expiresAt).toBe(now / 1000 + 10);
  });

  test('are refused as participant tokens and stream tickets, and those are refused as links', () => {
    const { token } = signSummaryLink(claims, secret, now);
    expect(verifyParticipantToken(token, secret, now, 'participant')).toEqual({
      ok: false,
      reason: 'malformed',
    });
    expect(verifyParticipantToken(token, secret, now, 'stream')).toEqual({ ok: false, reason: 'malformed' });
    const participant = signParticipantToken(claims, secret, now);
    const { ticket } = signStreamTicket(claims, secret, now);
    expect(verifyParticipantToken(participant, secret, now, 'summary').ok).toBe(false);
    expect(verifyParticipantToken(ticket, secret, now, 'summary').ok).toBe(false);
  });

  test('signed with another secret (forged) are refused', () => {
    const { token } = signSummaryLink(claims, 'x'.repeat(40), now);
    expect(verifyParticipantToken(token, secret, now, 'summary')).toEqual({ ok: false, reason: 'signature' });
  });
});
