/**
 * Presence that matches the hub: Web PubSub's `connected`/`disconnected` events (forwarded by the
 * upstream function) keep one presence document per participant; when a participant's last
 * connection drops, a check after the grace period asks the hub whether the user still has any
 * connection, and only then is `participant.away` written to the events container (and
 * `participant.back` on the next connection). Those events flow through the change feed and the
 * processor like every other event, so they get their seq and reach every client in order.
 *
 * Durability and exactly-once: the away/back decision is taken under the presence document's etag
 * and recorded there as `pending` BEFORE its event is written, with an event id derived from the
 * transition number; a crash in between leaves `pending`, which the next mutation or the sweep
 * writes (a 409 on the deterministic id means it was already written). Grace timers live in the
 * instance that saw the disconnect; the periodic sweep (`checkAt` due) covers instances that died,
 * and the periodic verification covers events the hub could not deliver (upstream down).
 */
import { systemEvent } from '../documents';
import type { PresenceHub, PresenceStore } from '../ports';
import { SCHEMA_VERSION, presenceDocId, type PresenceDocument } from '../protocol';

export type { PresenceHub } from '../ports';

export interface PresenceOptions {
  /** Presence documents and events (lib/adapters/cosmos/presenceStore.ts in the app). */
  store: PresenceStore;
  hub: PresenceHub;
  graceMs: number;
  verifyMs: number;
  clock?: () => number;
  log?: (message: string) => void;
}

/** Kept per participant, so a page of tabs or a reconnect storm cannot grow the document. */
const MAX_CONNECTIONS = 16;
const MAX_CLOSED = 16;
/** Away participants are re-verified (lost `connected` events) for this long, then left alone. */
const AWAY_VERIFY_WINDOW_MS = 60 * 60_000;
/** Presence documents expire a week after their last change. */
const PRESENCE_TTL_SECONDS = 7 * 86_400;
const MAX_ATTEMPTS = 10;

export const presenceEventId = (participantId: string, n: number) => `sys-presence-${participantId}-${n}`;

export class PresenceTracker {
  private readonly clock: () => number;
  private readonly log: (message: string) => void;
  private readonly timers = new Map<string, ReturnType<typeof setTimeout>>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private closed = false;

  constructor(private readonly opts: PresenceOptions) {
    this.clock = opts.clock ?? Date.now;
    this.log = opts.log ?? (() => undefined);
  }

  /** A connection of `participantId` in `meetingId` opened (the connect handler let it in). */
  async connected(meetingId: string, participantId: string, connectionId: string): Promise<void> {
    await this.mutate(meetingId, participantId, (doc, now) => {
      if (doc.closed.includes(connectionId)) return false; // a late or retried event
      if (!doc.connections.includes(connectionId)) {
        doc.connections = [...doc.connections, connectionId].slice(-MAX_CONNECTIONS);
      }
      doc.lastConnectedAt = now;
      if (doc.away) transition(doc, now);
      doc.checkAt = now + this.opts.verifyMs;
      return true;
    });
  }

  /** A connection of `participantId` closed for good (the hub does not report recoverable drops). */
  async disconnected(meetingId: string, participantId: string, connectionId: string): Promise<void> {
    const doc = await this.mutate(meetingId, participantId, (d, now) => {
      d.connections = d.connections.filter((c) => c !== connectionId);
      if (!d.closed.includes(connectionId)) d.closed = [...d.closed, connectionId].slice(-MAX_CLOSED);
      d.lastDisconnectedAt = now;
      // Other listed connections may be stale (a hub restart reports nothing): the check asks the hub.
      d.checkAt = now + this.opts.graceMs;
      return true;
    });
    if (doc?.checkAt != null) this.schedule(meetingId, participantId, doc.checkAt);
  }

  /** Asks the hub and marks the participant away or back if its check is due. */
  async check(meetingId: string, participantId: string): Promise<void> {
    const asked = this.clock();
    let exists: boolean;
    try {
      exists = await this.opts.hub.userExists(participantId);
    } catch (err) {
      // Unknown is not away: the check stays due and the sweep asks again.
      this.log(`presence check of ${participantId} failed: ${errorText(err)}`);
      return;
    }
    await this.mutate(meetingId, participantId, (doc, now) => {
      if (doc.checkAt === null || doc.checkAt > now) return false;
      if (exists) {
        if (doc.away) transition(doc, now);
        doc.checkAt = now + this.opts.verifyMs;
        return true;
      }
      // A connection opened after we asked: its own event decided; nothing to conclude here.
      if ((doc.lastConnectedAt ?? 0) >= asked) return false;
      doc.connections = [];
      if (!doc.away) transition(doc, now);
      const since = doc.lastDisconnectedAt ?? now;
      doc.checkAt = now - since < AWAY_VERIFY_WINDOW_MS ? now + this.opts.verifyMs : null;
      return true;
    });
  }

  /**
   * Runs the checks that are due (grace periods whose instance died, verifications, pending events).
   * Cross-partition, so it is called from a timer every few seconds, not per request.
   */
  async sweep(limit = 100): Promise<number> {
    const resources = await this.opts.store.due(this.clock(), limit);
    const queue = [...resources];
    const worker = async () => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        await this.check(next.meetingId, next.participantId).catch((err: unknown) =>
          this.log(`presence sweep of ${next!.participantId} failed: ${errorText(err)}`),
        );
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    return resources.length;
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  private schedule(meetingId: string, participantId: string, at: number): void {
    if (this.closed) return;
    clearTimeout(this.timers.get(participantId));
    const timer = setTimeout(
      () => {
        this.timers.delete(participantId);
        void this.check(meetingId, participantId).catch((err: unknown) =>
          this.log(`presence check of ${participantId} failed: ${errorText(err)}`),
        );
      },
      Math.max(0, at - this.clock()) + 5,
    );
    timer.unref?.();
    this.timers.set(participantId, timer);
  }

  /**
   * Read-modify-write of the presence document under its etag. `decide` returns false to change
   * nothing. A decided transition is stored as `pending` first, then its event is written.
   */
  private mutate(
    meetingId: string,
    participantId: string,
    decide: (doc: PresenceDocument, now: number) => boolean,
  ): Promise<PresenceDocument | undefined> {
    // Serialised per participant in this instance: fewer etag conflicts, same result.
    const previous = this.locks.get(participantId) ?? Promise.resolve();
    const run = previous.then(() => this.mutateNow(meetingId, participantId, decide));
    const settled = run.catch(() => undefined);
    this.locks.set(participantId, settled);
    void settled.then(() => {
      if (this.locks.get(participantId) === settled) this.locks.delete(participantId);
    });
    return run;
  }

  private async mutateNow(
    meetingId: string,
    participantId: string,
    decide: (doc: PresenceDocument, now: number) => boolean,
  ): Promise<PresenceDocument | undefined> {
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const stored = await this.opts.store.read(meetingId, participantId);
      const etag = stored?.etag;
      const doc = stored ? clean(stored.doc) : fresh(meetingId, participantId);
      const hadPending = doc.pending;
      // An earlier transition's event goes first, so events stay in decision order.
      if (hadPending) await this.writeEvent(doc, hadPending);
      delete doc.pending;
      const now = this.clock();
      const changed = decide(doc, now);
      if (!changed && !hadPending) return doc;
      doc.ttl = PRESENCE_TTL_SECONDS;
      const newEtag = await this.opts.store.write(doc, etag);
      if (newEtag === 'conflict') continue;
      if (doc.pending) {
        await this.writeEvent(doc, doc.pending);
        const settled = { ...doc };
        delete settled.pending;
        // Best effort: if this loses a race, the next mutation finds the event written (409).
        await this.opts.store.write(settled, newEtag).catch(() => undefined);
        return settled;
      }
      return doc;
    }
    throw new Error(`presence of ${participantId}: too many concurrent updates`);
  }

  private async writeEvent(doc: PresenceDocument, pending: { n: number; at: number }): Promise<void> {
    if (!(await this.shouldAnnounce(doc.meetingId, doc.participantId))) return;
    // Attributed to the participant without a role: presence is the hub's observation, not theirs.
    const event = systemEvent(
      doc.meetingId,
      presenceEventId(doc.participantId, pending.n),
      pending.n % 2 === 1 ? 'participant.away' : 'participant.back',
      { participantId: doc.participantId },
      { participantId: doc.participantId, role: null },
      pending.at,
    );
    // Idempotent: written before under the same id (the id names the transition) is fine.
    await this.opts.store.insertEvent(event);
  }

  /** No presence events for ended meetings or participants who left (the reducer would drop them). */
  private async shouldAnnounce(meetingId: string, participantId: string): Promise<boolean> {
    const { status, participant: p } = await this.opts.store.meetingAndParticipant(meetingId, participantId);
    if (status === 'ended') return false;
    return !!p && !p.leftAt && !p.removedAt;
  }
}

function transition(doc: PresenceDocument, now: number): void {
  doc.transitions += 1;
  doc.away = doc.transitions % 2 === 1;
  doc.pending = { n: doc.transitions, at: now };
}

function fresh(meetingId: string, participantId: string): PresenceDocument {
  return {
    id: presenceDocId(participantId),
    type: 'presence',
    schemaVersion: SCHEMA_VERSION,
    meetingId,
    participantId,
    connections: [],
    closed: [],
    away: false,
    transitions: 0,
    lastConnectedAt: null,
    lastDisconnectedAt: null,
    checkAt: null,
  };
}

/** The stored document without Cosmos DB's system properties. */
function clean(stored: PresenceDocument): PresenceDocument {
  const doc = fresh(stored.meetingId, stored.participantId);
  return {
    ...doc,
    connections: Array.isArray(stored.connections) ? stored.connections : [],
    closed: Array.isArray(stored.closed) ? stored.closed : [],
    away: stored.away === true,
    transitions: typeof stored.transitions === 'number' ? stored.transitions : 0,
    ...(stored.pending ? { pending: stored.pending } : {}),
    lastConnectedAt: stored.lastConnectedAt ?? null,
    lastDisconnectedAt: stored.lastDisconnectedAt ?? null,
    checkAt: stored.checkAt ?? null,
  };
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
