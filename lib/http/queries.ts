/**
 * The query strings every route accepts, as zod schemas (strict: an unknown parameter is a 400,
 * so a misspelt or foreign paging parameter is never silently ignored), and the paging limits.
 *
 * Paging convention, the same on every paged route: a page answers `{items, next}`; `next` is an
 * opaque cursor to pass back as `?cursor=` for the following page, null when the page reached the
 * end (of the log as it was, for catch-up). Page sizes are capped per route, for a reason each:
 * participants at 200 (each item is a point read's worth of roster), envelopes at 1,000 (small,
 * sequential, and a reconnecting client should catch up in few requests).
 */
import { z } from 'zod';
import { MAX_PAGE } from '../domain/validation';
import type { EventsPage } from '../protocol';

/** One page of a paged route: `next` is the cursor for `?cursor=`, null at the end. */
export interface Page<T> {
  items: T[];
  next: string | null;
  /** The same cursor under its former name, kept for clients written before `next`. */
  continuation: string | null;
}

/** What `GET …/events` answers: the protocol's page with the paging convention's `next`. */
export type EventsPageBody = EventsPage & Page<EventsPage['items'][number]>;

/**
 * The page caps differ on purpose. A participant row is a Cosmos DB document read by a query whose
 * cost grows with the page, so pages stay small; envelopes are read in whole stored pages (one
 * document holds hundreds), so a catch-up page can be larger at the same cost, and a client
 * behind by a whole meeting catches up in few requests.
 */
export const MAX_PARTICIPANTS_PAGE = MAX_PAGE;
export const MAX_EVENTS_PAGE = 1000;
export const DEFAULT_EVENTS_PAGE = 200;
/** A long-poll holds an HTTP request open: well under the Functions host's and proxies' timeouts. */
export const MAX_WAIT_SECONDS = 30;

const integer = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d{1,15}$/, `must be an integer from ${min} to ${max}`)
    .transform(Number)
    .pipe(z.int().min(min).max(max));

const seq = integer(0, Number.MAX_SAFE_INTEGER);

/** A catch-up cursor is the last seq of a page; opaque to clients (only digits are ever issued). */
const seqCursor = z
  .string()
  .regex(/^\d{1,15}$/, 'must be a cursor from a previous page')
  .transform(Number);

/** `GET …/events`: read after `after` (a seq) or on from `cursor` (a previous page's `next`). */
export const eventsQuery = z
  .object({
    after: seq.optional(),
    cursor: seqCursor.optional(),
    limit: integer(1, MAX_EVENTS_PAGE).optional(),
    wait: integer(0, MAX_WAIT_SECONDS).optional(),
  })
  .strict()
  .refine((q) => q.after === undefined || q.cursor === undefined, {
    message: 'give either after or cursor, not both',
    path: ['cursor'],
  });

/** `GET …/events/stream`: the ticket for EventSource, or resume after a seq (Last-Event-ID wins). */
export const streamQuery = z
  .object({
    ticket: z.string().max(4096).optional(),
    after: seq.optional(),
    // Listed only so its refusal can say why (tokens are never accepted in URLs).
    access_token: z.string().optional(),
  })
  .strict();

export const SUMMARY_CHARTS = ['talkTime', 'timeline', 'polls'] as const;

/** `GET …/summary`: JSON (default), an HTML page, or one chart as SVG. */
export const summaryQuery = z
  .object({
    format: z.enum(['json', 'html', 'svg']).optional(),
    chart: z.enum(SUMMARY_CHARTS).optional(),
    link: z
      .string()
      .max(4096)
      .optional()
      .meta({ description: 'Token of a summary link (POST …/summary/link).' }),
  })
  .strict()
  .refine((q) => q.format !== 'svg' || q.chart !== undefined, {
    message: `chart must be one of ${SUMMARY_CHARTS.join(', ')}`,
    path: ['chart'],
  });

/** `POST /api/ops/meetings/{id}/rebuild`: compare only, or replace a diverged live model. */
export const rebuildQuery = z.object({ apply: z.enum(['true', 'false']).optional() }).strict();

/** Routes without query parameters (the function key's `code` is the platform's, allowed where keys are). */
export const noQuery = z.object({}).strict();
export const keyOnlyQuery = z.object({ code: z.string().optional() }).strict();

const participantsCursor = z
  .string()
  .max(512)
  .regex(/^[A-Za-z0-9_-]+$/, 'must be a cursor from a previous page');

/** `GET …/participants`: `cursor` from a previous page's `next` (`continuation` is its former name). */
export const participantsQuery = z
  .object({
    limit: integer(1, MAX_PARTICIPANTS_PAGE).optional(),
    cursor: participantsCursor.optional(),
    continuation: participantsCursor.optional(),
  })
  .strict()
  .refine((q) => q.cursor === undefined || q.continuation === undefined, {
    message: 'give either cursor or continuation (its former name), not both',
    path: ['cursor'],
  });
