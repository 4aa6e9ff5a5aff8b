/**
 * The write side's refusals as HTTP problems, each named once: the use cases in this folder
 * throw these, and a rule's refusal (lib/domain/rules.ts) becomes one here.
 */
import { MAX_OPEN_POLLS, MAX_POLLS, type Refusal } from '../domain/rules';
import {
  ProblemError,
  badRequest,
  conflict,
  forbidden,
  notFound,
  problemType,
  unauthorized,
} from '../errors';

export const idsReused = (ids: string[]) =>
  conflict(`These event ids were already used for different events: ${ids.join(', ')}.`, 'id-conflict');

export const meetingEnded = () =>
  conflict('The meeting has ended; it accepts no more changes.', 'meeting-ended');

export const meetingNotStarted = () =>
  conflict(
    'The meeting has not started yet; the host starts it (POST …/start) or it starts at startsAt.',
    'meeting-not-started',
  );

export const revoked = () =>
  unauthorized('The token was revoked: the participant was removed from the meeting.', 'token-revoked');

export const noSuchMeeting = () => notFound('No such meeting.');

export const noSuchParticipant = () => notFound('No such participant in this meeting.');

export const participantLeft = () =>
  conflict('You have left this meeting; POST …/join with your token to come back.', 'participant-left');

export const onlyHost = (what: string) => forbidden(`Only the host may ${what}.`, 'role');

export const closingConnectionsFailed = () =>
  new ProblemError(
    503,
    'Service Unavailable',
    'The participant was removed, but closing their connections failed; retry.',
    { type: problemType('unavailable'), headers: { 'retry-after': '1' } },
  );

/** Where in the post a refused event is, for the problem's text and field paths. */
export interface EventSite {
  /** ` (events[2])` for a batch, '' for a single event. */
  where: string;
  /** `events[2].data` for a batch, `data` for a single event. */
  data: string;
  pollId?: string;
  optionCount?: number;
}

/** A rule's refusal of a posted event, as the problem ingest answers. */
export function eventRefused(refusal: Refusal, site: EventSite): ProblemError {
  switch (refusal) {
    case 'lower-others-hand':
      return forbidden(`Only the host may lower another participant's hand${site.where}.`, 'role');
    case 'manage-polls':
      return forbidden(`Only the host or a presenter may open or close polls${site.where}.`, 'role');
    case 'duplicate-poll':
      return conflict(
        `A poll with the id "${site.pollId}" already exists in this meeting.`,
        'duplicate-poll',
      );
    case 'unknown-poll':
      return notFound(`No poll with the id "${site.pollId}" in this meeting.`, 'unknown-poll');
    case 'poll-closed':
      return conflict(`The poll "${site.pollId}" is closed.`, 'poll-closed');
    case 'invalid-option':
      return badRequest('The event is not valid.', [
        {
          path: `${site.data}.option`,
          message: `must be less than ${site.optionCount} (the poll's option count)`,
        },
      ]);
    case 'too-many-polls':
      return conflict(`A meeting can hold at most ${MAX_POLLS} polls.`, 'poll-limit');
    case 'too-many-open-polls':
      return conflict(`At most ${MAX_OPEN_POLLS} polls can be open at once; close one first.`, 'poll-limit');
    case 'poll-option-count':
      // Validation (lib/domain/validation.ts) refuses these before ingest sees them.
      return badRequest('The event is not valid.', [
        { path: `${site.data}.options`, message: 'has too few or too many options' },
      ]);
    case 'already-left':
    case 'not-left':
    case 'removed':
    case 'same-role':
      // Not event rules: a caller mixing them up is a bug, answered as one.
      throw new Error(`meetstream: ${refusal} is not a refusal of an event`);
  }
}
