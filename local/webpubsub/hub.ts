/** Connections, groups and users of one hub, and message fan-out. */
import type { BillingMeter } from './billing';
import type { Predicate } from './filter';
import type { OutMessage } from './protocol';
import type { Session } from './session';

export interface HubCallbacks {
  /** A session ended for good (not a recoverable drop). */
  onSessionEnded(session: Session, reason: string): void;
}

export interface SendScope {
  excluded?: ReadonlySet<string>;
  filter?: Predicate;
}

export class Hub {
  readonly sessions = new Map<string, Session>();
  private readonly groups = new Map<string, Set<Session>>();
  private readonly users = new Map<string, Set<Session>>();
  /** Groups a user was added to through the REST API; applies to the user's future connections too. */
  private readonly userGroups = new Map<string, Set<string>>();

  constructor(
    readonly key: string,
    private readonly callbacks: HubCallbacks,
    private readonly meter: BillingMeter,
  ) {}

  get groupCount(): number {
    return this.groups.size;
  }

  add(session: Session, groups: Iterable<string>): void {
    this.sessions.set(session.id, session);
    if (session.userId !== undefined) {
      addTo(this.users, session.userId, session);
      const persisted = this.userGroups.get(session.userId);
      if (persisted !== undefined) for (const g of persisted) this.join(session, g);
    }
    for (const g of groups) this.join(session, g);
  }

  join(session: Session, group: string): void {
    if (session.state === 'closed' || session.groups.has(group)) return;
    session.groups.add(group);
    addTo(this.groups, group, session);
  }

  leave(session: Session, group: string): void {
    if (!session.groups.delete(group)) return;
    removeFrom(this.groups, group, session);
  }

  leaveAll(session: Session): void {
    for (const g of session.groups) removeFrom(this.groups, g, session);
    session.groups.clear();
  }

  /** Removes an ended session from every index. Idempotent. */
  end(session: Session, reason: string): void {
    if (session.state === 'closed') return;
    session.state = 'closed';
    this.leaveAll(session);
    if (this.sessions.get(session.id) === session) this.sessions.delete(session.id);
    if (session.userId !== undefined) removeFrom(this.users, session.userId, session);
    session.dispose();
    this.callbacks.onSessionEnded(session, reason);
  }

  session(connectionId: string): Session | undefined {
    return this.sessions.get(connectionId);
  }

  userSessions(userId: string): ReadonlySet<Session> | undefined {
    return this.users.get(userId);
  }

  groupSessions(group: string): ReadonlySet<Session> | undefined {
    return this.groups.get(group);
  }

  hasGroup(group: string): boolean {
    return this.groups.has(group);
  }

  hasUser(userId: string): boolean {
    return this.users.has(userId);
  }

  sendToAll(message: OutMessage, scope: SendScope = {}): void {
    this.fanOut(this.sessions.values(), message, scope);
  }

  sendToGroup(group: string, message: OutMessage, scope: SendScope = {}): void {
    const members = this.groups.get(group);
    if (members !== undefined) this.fanOut(members, message, scope, group);
  }

  /** One connection (REST send to a connection, an upstream reply to its caller). */
  sendToConnection(session: Session, message: OutMessage): void {
    if (session.deliver(message)) this.meter.outbound(this.key, message.payloadBytes, 1);
  }

  /** A message into the hub (client or REST send): counted, free. */
  received(bytes: number): void {
    this.meter.inbound(this.key, bytes);
  }

  sendToUser(userId: string, message: OutMessage, scope: SendScope = {}): void {
    const sessions = this.users.get(userId);
    if (sessions !== undefined) this.fanOut(sessions, message, scope);
  }

  addUserToGroup(userId: string, group: string): void {
    addTo(this.userGroups, userId, group);
    const sessions = this.users.get(userId);
    if (sessions !== undefined) for (const s of sessions) this.join(s, group);
  }

  removeUserFromGroup(userId: string, group: string): void {
    removeFrom(this.userGroups, userId, group);
    const sessions = this.users.get(userId);
    if (sessions !== undefined) for (const s of sessions) this.leave(s, group);
  }

  removeUserFromAllGroups(userId: string): void {
    this.userGroups.delete(userId);
    const sessions = this.users.get(userId);
    if (sessions !== undefined) for (const s of sessions) this.leaveAll(s);
  }

  private fanOut(targets: Iterable<Session>, message: OutMessage, scope: SendScope, group?: string): void {
    const { excluded, filter } = scope;
    let lostRecoverability: Session[] | undefined;
    let recipients = 0;
    for (const s of targets) {
      if (excluded !== undefined && excluded.has(s.id)) continue;
      if (filter !== undefined && !filter(s)) continue;
      if (s.deliver(message)) recipients++;
      if (s.state === 'recovering' && !s.recoverable) (lostRecoverability ??= []).push(s);
    }
    // Billed per recipient, as the service bills each message it sends to each connection.
    if (recipients > 0) this.meter.outbound(this.key, message.payloadBytes, recipients, group);
    // A dropped client whose unacknowledged backlog overflowed can no longer resume losslessly: end
    // it now (after the loop, which must not see its own set change).
    if (lostRecoverability !== undefined) {
      for (const s of lostRecoverability)
        this.end(s, 'The reconnection buffer overflowed while the client was away.');
    }
  }
}

function addTo<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  const set = map.get(key);
  if (set === undefined) map.set(key, new Set([value]));
  else set.add(value);
}

function removeFrom<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  const set = map.get(key);
  if (set === undefined) return;
  set.delete(value);
  if (set.size === 0) map.delete(key);
}

/** Hubs by case-insensitive name, created on first use. */
export class HubRegistry {
  private readonly hubs = new Map<string, Hub>();

  constructor(
    private readonly callbacks: HubCallbacks,
    /** Billed messages of every hub (billing.ts). */
    readonly meter: BillingMeter,
  ) {}

  static keyOf(name: string): string {
    return name.toLowerCase();
  }

  get(name: string): Hub | undefined {
    return this.hubs.get(HubRegistry.keyOf(name));
  }

  getOrCreate(name: string): Hub {
    const key = HubRegistry.keyOf(name);
    let hub = this.hubs.get(key);
    if (hub === undefined) {
      hub = new Hub(key, this.callbacks, this.meter);
      this.hubs.set(key, hub);
    }
    return hub;
  }

  values(): IterableIterator<Hub> {
    return this.hubs.values();
  }

  findSession(connectionId: string): Session | undefined {
    for (const hub of this.hubs.values()) {
      const s = hub.session(connectionId);
      if (s !== undefined) return s;
    }
    return undefined;
  }
}
