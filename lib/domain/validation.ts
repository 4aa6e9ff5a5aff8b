/**
 * Schemas for everything clients send, with errors mapped to problem+json field errors.
 */
import { z } from 'zod';
import { badRequest, type FieldError } from '../errors';

/** Cosmos DB ids: no / \ ? #, at most 255 characters; we also refuse control characters. */
export const cosmosId = z
  .string()
  .min(1)
  .max(255)
  // eslint-disable-next-line no-control-regex -- refusing control characters is the point
  .regex(/^[^/\\?#\u0000-\u001f\u007f]+$/, 'must not contain / \\ ? # or control characters')
  .refine((s) => s.trim() === s, 'must not start or end with whitespace');

export const createMeetingBody = z
  .object({
    title: z.string().trim().min(1).max(200),
    startsAt: z.iso.datetime({ offset: true }).optional(),
    endsAt: z.iso.datetime({ offset: true }).optional(),
  })
  .strict();

export const joinBody = z
  .object({
    displayName: z.string().trim().min(1).max(80),
    joinCode: z.string().min(1).max(64),
  })
  .strict();

export const chatMessage = z.object({ text: z.string().min(1).max(4000) }).strict();

export const clientEvent = z
  .object({
    id: cosmosId.optional(),
    type: z.literal('chat.message'),
    data: chatMessage,
  })
  .strict();

export const eventsBody = z.union([
  clientEvent,
  z.object({ events: z.array(clientEvent).min(1).max(100) }).strict(),
]);

export type ClientEvent = z.infer<typeof clientEvent>;

/** Parses `value` or throws a 400 with one entry per offending field. */
export function parse<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const errors: FieldError[] = result.error.issues.slice(0, 50).map((issue) => ({
    path: formatPath(issue.path),
    message: issue.message,
  }));
  throw badRequest(`The ${what} is not valid.`, errors);
}

function formatPath(path: PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out || '(body)';
}
