/**
 * LIST PRICES TO VERIFY: the only place the benchmarks turn counts into dollars. Taken from the
 * project's notes (../shared/notes/deploy-scale-cost-facts.md §4.1, compiled 2026), where several
 * are marked UNVERIFIED (third-party pages or recollection, the Azure pricing page was not
 * retrieved). Check each against azure.microsoft.com/pricing for your region and currency before
 * quoting a figure; the counts the benchmark measures (RU, billed messages) do not depend on them.
 */
export interface ListPrice {
  usd: number;
  per: string;
  source: string;
  verified: boolean;
}

export const LIST_PRICES = {
  cosmosServerlessPerMillionRU: {
    usd: 0.25,
    per: '1,000,000 request units (serverless account)',
    source: 'notes §4.1 "Cosmos serverless price" (third-party code comments; UNVERIFIED)',
    verified: false,
  },
  webPubSubPerMillionMessages: {
    usd: 1.0,
    per: '1,000,000 billed messages (2 KB units) beyond the free quota, Standard tier',
    source: 'notes §4.1 "WPS overage" (UNVERIFIED)',
    verified: false,
  },
  webPubSubUnitPerDay: {
    usd: 1.61,
    per: 'Standard unit-day (1,000 concurrent connections per unit)',
    source:
      'notes §4.1 "WPS unit price" (c3x.dev/resources/azure/azurerm_web_pubsub, third-party; UNVERIFIED)',
    verified: false,
  },
} satisfies Record<string, ListPrice>;

/** Connections per Web PubSub unit, and the share of them one plans to use (notes §3.3). */
export const WEBPUBSUB_CONNECTIONS_PER_UNIT = 1000;
export const WEBPUBSUB_PLANNED_UTILISATION = 0.8;
/** Free billed messages per unit per day (Standard), not subtracted by the benchmark (notes §4.1). */
export const WEBPUBSUB_FREE_MESSAGES_PER_UNIT_DAY = 1_000_000;

export interface CostBreakdown {
  cosmos: number;
  webPubSubMessages: number;
  /** Unit capacity for the room's connections, at the planned utilisation, prorated per minute. */
  webPubSubUnits: number;
  total: number;
}

/**
 * Dollars per 1,000 participant-minutes for a room of `participants` that, over `minutes` of
 * meeting, used `ru` request units and `billedMessages` Web PubSub messages. Conservative on
 * messages (the free quota is not subtracted: a busy hub exhausts it early in the day) and
 * generous on units (each connection pays only its share of a fully planned unit, as if the units
 * were shared by many meetings all day). Functions (Flex GB-s and executions) are not included:
 * the notes put them at cents per 1,000 meeting-minutes, and the embedded runner cannot measure
 * billed instance time.
 */
export function dollarsPer1000ParticipantMinutes(
  participants: number,
  minutes: number,
  ru: number,
  billedMessages: number,
): CostBreakdown {
  const participantMinutes = participants * minutes;
  const scale = participantMinutes > 0 ? 1000 / participantMinutes : 0;
  const cosmos = (ru / 1e6) * LIST_PRICES.cosmosServerlessPerMillionRU.usd * scale;
  const webPubSubMessages = (billedMessages / 1e6) * LIST_PRICES.webPubSubPerMillionMessages.usd * scale;
  const unitMinute = LIST_PRICES.webPubSubUnitPerDay.usd / (24 * 60);
  const webPubSubUnits =
    (1000 * unitMinute) / (WEBPUBSUB_CONNECTIONS_PER_UNIT * WEBPUBSUB_PLANNED_UTILISATION);
  return { cosmos, webPubSubMessages, webPubSubUnits, total: cosmos + webPubSubMessages + webPubSubUnits };
}
