/**
 * Web PubSub billed-message counting (local/webpubsub/billing.ts) against the service's billing
 * model: outbound messages in 2 KB units per recipient, upstream calls the same way, inbound free.
 */
import { BillingMeter, billedMessages } from '../../local/webpubsub/billing';

test('2 KB units, rounded up per message, at least one', () => {
  expect(billedMessages(0)).toBe(1);
  expect(billedMessages(1)).toBe(1);
  expect(billedMessages(2048)).toBe(1);
  expect(billedMessages(2049)).toBe(2);
  expect(billedMessages(3 * 1024)).toBe(2);
  expect(billedMessages(4 * 1024)).toBe(2);
  expect(billedMessages(100 * 1024)).toBe(50); // the billing page's "100-KB traffic is counted as 50 messages"
});

test("the billing page's example: 4 KB to 10 members of a group plus its upstream call is 22 messages", () => {
  const m = new BillingMeter();
  m.inbound('hub', 4096); // the client's send: free
  m.upstream('hub', 'message', 4096);
  m.outbound('hub', 4096, 10, 'g');
  const { hubs, billedMessages: total } = m.snapshot();
  expect(total).toBe(22);
  expect(hubs.hub?.inbound).toEqual({ messages: 1, bytes: 4096, billedMessages: 0 });
  expect(hubs.hub?.upstream).toEqual({
    messages: 1,
    bytes: 4096,
    billedMessages: 2,
    byEvent: { message: 1 },
  });
  expect(hubs.hub?.outbound).toEqual({ messages: 10, bytes: 40960, billedMessages: 20 });
  expect(hubs.hub?.groups.g).toEqual({ sends: 1, messages: 10, bytes: 40960, billedMessages: 20 });
});

test('per hub and per group; sends outside groups are counted only for the hub; reset zeroes', () => {
  const m = new BillingMeter();
  m.outbound('a', 3000, 3, 'g1');
  m.outbound('a', 100, 2, 'g2');
  m.outbound('a', 5000, 1); // to a connection
  m.outbound('b', 10, 4);
  m.upstream('b', 'connected', 2);
  m.upstream('b', 'connected', 2);
  const s = m.snapshot();
  expect(s.hubs.a?.billedMessages).toBe(3 * 2 + 2 * 1 + 3);
  expect(Object.keys(s.hubs.a?.groups ?? {}).sort()).toEqual(['g1', 'g2']);
  expect(s.hubs.a?.groups.g2?.billedMessages).toBe(2);
  expect(s.hubs.b?.billedMessages).toBe(4 + 2);
  expect(s.hubs.b?.upstream.byEvent).toEqual({ connected: 2 });
  expect(s.billedMessages).toBe(11 + 6);
  // The snapshot is a copy.
  s.hubs.a!.billedMessages = 0;
  expect(m.snapshot().hubs.a?.billedMessages).toBe(11);
  m.reset();
  expect(m.snapshot()).toEqual({ hubs: {}, billedMessages: 0 });
});
