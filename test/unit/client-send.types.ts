/**
 * Compile-time test of the typed client's send(): this file is type-checked by `npm run build`
 * (tsc) and never run. Each `@ts-expect-error` must meet an error, so a typo'd type or wrong data
 * that compiled again would break the build.
 */
import type { MeetstreamClient } from '../../client';

export function sendsTypedEvents(client: MeetstreamClient): void {
  void client.send({ type: 'chat.message', data: { text: 'hi' } });
  void client.send({ id: 'c-1', type: 'reaction', data: { emoji: '👍' } });
  // Types whose data is empty may leave it out.
  void client.send({ type: 'hand.raise' });
  void client.send({ type: 'speaking.start' });
  void client.send({ type: 'speaking.stop', data: {} });
  void client.send([
    { type: 'poll.open', data: { pollId: 'p1', question: 'Lunch?', options: ['yes', 'no'] } },
    { type: 'poll.vote', data: { pollId: 'p1', option: 0 } },
    { type: 'hand.lower', data: {} },
  ]);

  // @ts-expect-error a typo'd event type
  void client.send({ type: 'chat.mesage', data: { text: 'hi' } });
  // @ts-expect-error wrong data for the type
  void client.send({ type: 'poll.vote', data: { pollId: 'p1', option: 'yes' } });
  // @ts-expect-error data is required where it is not empty
  void client.send({ type: 'chat.message' });
  // @ts-expect-error an emoji outside the protocol's list
  void client.send({ type: 'reaction', data: { emoji: 'x' } });
  // @ts-expect-error empty-data types take no fields
  void client.send({ type: 'hand.raise', data: { now: true } });
  // @ts-expect-error system events are not sent by clients
  void client.send({ type: 'meeting.ended', data: {} });
}
