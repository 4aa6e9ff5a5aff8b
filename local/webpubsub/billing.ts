/**
 * Billed-message counting for the embedded Web PubSub, after the service's billing model
 * ("Billing model of Azure Web PubSub service", learn.microsoft.com/azure/azure-web-pubsub/concept-billing-model):
 * only outbound traffic is billed, in 2 KB message units: messages the service sends to each
 * receiving connection and messages it posts to upstream webhooks (event handlers). Inbound traffic
 * (clients → service, server REST calls → service) is free. Counted per hub, and per group for
 * group sends, so local runs show what a design costs per recipient; README lists what is assumed.
 *
 * Pure: the hub reports what it sent and posted; this keeps the totals.
 */

/** One billed message is 2 KB of outbound traffic. */
export const BILLING_UNIT_BYTES = 2048;

/** Billed messages for one message of `bytes` to one recipient: 2 KB units, rounded up, at least 1. */
export function billedMessages(bytes: number): number {
  return Math.max(1, Math.ceil(bytes / BILLING_UNIT_BYTES));
}

export interface TrafficTotals {
  /** Messages (one per recipient for outbound). */
  messages: number;
  /** Payload bytes (summed over recipients for outbound). */
  bytes: number;
  /** Billed 2 KB units, rounded up per message per recipient (0 for inbound: free). */
  billedMessages: number;
}

export interface GroupTotals extends TrafficTotals {
  /** Sends to the group (each reaching `messages / sends` members on average). */
  sends: number;
}

export interface HubTotals {
  /** Outbound to clients + upstream calls: what the hub bills. */
  billedMessages: number;
  /** Service → client connections (all sends: to all, groups, users, connections, upstream replies). */
  outbound: TrafficTotals;
  /** Service → event handler, one per HTTP call made (retries included), by event name. */
  upstream: TrafficTotals & { byEvent: Record<string, number> };
  /** Client and REST sends into the service: counted, never billed. */
  inbound: TrafficTotals;
  /** Outbound traffic of group sends, by group (the same messages are also in `outbound`). */
  groups: Record<string, GroupTotals>;
}

export interface BillingSnapshot {
  /** Per hub, keyed by the lower-cased hub name (hub names are case-insensitive). */
  hubs: Record<string, HubTotals>;
  billedMessages: number;
}

function traffic(): TrafficTotals {
  return { messages: 0, bytes: 0, billedMessages: 0 };
}

function hubTotals(): HubTotals {
  return {
    billedMessages: 0,
    outbound: traffic(),
    upstream: { ...traffic(), byEvent: {} },
    inbound: traffic(),
    groups: {},
  };
}

function add(t: TrafficTotals, messages: number, bytes: number, billed: number): void {
  t.messages += messages;
  t.bytes += bytes * messages;
  t.billedMessages += billed;
}

export class BillingMeter {
  private hubs = new Map<string, HubTotals>();

  /** One message of `bytes` payload delivered to `recipients` connections (of `group`, if a group send). */
  outbound(hub: string, bytes: number, recipients: number, group?: string): void {
    const t = this.hub(hub);
    const billed = billedMessages(bytes) * recipients;
    add(t.outbound, recipients, bytes, billed);
    t.billedMessages += billed;
    if (group !== undefined) {
      const g = (t.groups[group] ??= { ...traffic(), sends: 0 });
      g.sends += 1;
      add(g, recipients, bytes, billed);
    }
  }

  /** One HTTP call to the event handler with a body of `bytes`. */
  upstream(hub: string, event: string, bytes: number): void {
    const t = this.hub(hub);
    const billed = billedMessages(bytes);
    add(t.upstream, 1, bytes, billed);
    t.upstream.byEvent[event] = (t.upstream.byEvent[event] ?? 0) + 1;
    t.billedMessages += billed;
  }

  /** One message into the service: free. */
  inbound(hub: string, bytes: number): void {
    add(this.hub(hub).inbound, 1, bytes, 0);
  }

  reset(): void {
    this.hubs = new Map();
  }

  snapshot(): BillingSnapshot {
    const hubs: Record<string, HubTotals> = {};
    let total = 0;
    for (const [name, t] of this.hubs) {
      hubs[name] = structuredClone(t);
      total += t.billedMessages;
    }
    return { hubs, billedMessages: total };
  }

  private hub(name: string): HubTotals {
    let t = this.hubs.get(name);
    if (t === undefined) this.hubs.set(name, (t = hubTotals()));
    return t;
  }
}
