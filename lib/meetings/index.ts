/**
 * The write side of the HTTP API, split by job (see README.md in this folder): access.ts (who is
 * calling, caches, rate limits), lifecycle.ts (create/start/end), participants.ts (join, leave,
 * remove, roles, list), ingest.ts (posting events), problems.ts (the refusals). Nothing here
 * depends on the Functions runtime, so tests drive it directly over in-memory stores.
 *
 * MeetingService only composes the four parts for the call sites (`services.meetings.<use case>`);
 * it holds no logic of its own.
 */
import { MeetingAccess, type MeetingServiceOptions } from './access';
import { MeetingIngest } from './ingest';
import { MeetingLifecycle } from './lifecycle';
import { MeetingParticipants } from './participants';

export { CACHE_TTL_MS, MeetingAccess, requireHost } from './access';
export type { Caller, IssuedToken, MeetingServiceOptions } from './access';
export type { AcceptedEvent } from './ingest';
export { MeetingIngest } from './ingest';
export { MeetingLifecycle } from './lifecycle';
export { MeetingParticipants } from './participants';
export { publicMeeting, publicParticipant } from '../documents';
export type { ParticipantConnections } from '../ports';

export class MeetingService {
  readonly access: MeetingAccess;
  readonly lifecycle: MeetingLifecycle;
  readonly participants: MeetingParticipants;
  readonly ingest: MeetingIngest;

  // access
  readonly authenticate: MeetingAccess['authenticate'];
  readonly authorize: MeetingAccess['authorize'];
  readonly streamTicket: MeetingAccess['streamTicket'];
  readonly mayConnect: MeetingAccess['mayConnect'];
  readonly negotiate: MeetingAccess['negotiate'];
  readonly limit: MeetingAccess['limit'];
  // lifecycle
  readonly create: MeetingLifecycle['create'];
  readonly start: MeetingLifecycle['start'];
  readonly end: MeetingLifecycle['end'];
  readonly rotateJoinCode: MeetingLifecycle['rotateJoinCode'];
  readonly view: MeetingLifecycle['view'];
  // participants
  readonly join: MeetingParticipants['join'];
  readonly rejoin: MeetingParticipants['rejoin'];
  readonly leave: MeetingParticipants['leave'];
  readonly remove: MeetingParticipants['remove'];
  readonly setRole: MeetingParticipants['setRole'];
  readonly listParticipants: MeetingParticipants['listParticipants'];
  // ingest
  readonly postEvents: MeetingIngest['postEvents'];

  constructor(opts: MeetingServiceOptions) {
    this.access = new MeetingAccess(opts);
    this.lifecycle = new MeetingLifecycle(opts, this.access);
    this.participants = new MeetingParticipants(opts, this.access);
    this.ingest = new MeetingIngest(opts, this.lifecycle);
    const a = this.access;
    const l = this.lifecycle;
    const p = this.participants;
    this.authenticate = a.authenticate.bind(a);
    this.authorize = a.authorize.bind(a);
    this.streamTicket = a.streamTicket.bind(a);
    this.mayConnect = a.mayConnect.bind(a);
    this.negotiate = a.negotiate.bind(a);
    this.limit = a.limit.bind(a);
    this.create = l.create.bind(l);
    this.start = l.start.bind(l);
    this.end = l.end.bind(l);
    this.rotateJoinCode = l.rotateJoinCode.bind(l);
    this.view = l.view.bind(l);
    this.join = p.join.bind(p);
    this.rejoin = p.rejoin.bind(p);
    this.leave = p.leave.bind(p);
    this.remove = p.remove.bind(p);
    this.setRole = p.setRole.bind(p);
    this.listParticipants = p.listParticipants.bind(p);
    this.postEvents = this.ingest.postEvents.bind(this.ingest);
  }
}
