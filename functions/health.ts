import { app } from '@azure/functions';
import { httpHandler, json, parseQuery } from '../lib/http/handler';
import { noQuery } from '../lib/http/queries';
import { getServices } from '../lib/services';

const services = getServices();
const TIMEOUT_MS = 3000;

async function probe(
  check: () => Promise<unknown>,
): Promise<{ ok: boolean; latencyMs: number; error?: string }> {
  const started = performance.now();
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('timed out')), TIMEOUT_MS).unref()),
    ]);
    return { ok: true, latencyMs: Math.round(performance.now() - started) };
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    return {
      ok: false,
      latencyMs: Math.round(performance.now() - started),
      error: code !== undefined ? `status ${String(code)}` : err instanceof Error ? err.message : 'failed',
    };
  }
}

/** GET /api/health — liveness, reachability of Cosmos DB and Web PubSub (503 if one is down), parked batches. */
export const health = httpHandler(async (req) => {
  parseQuery(req, noQuery);
  let parkedBatches: number | undefined;
  const [cosmos, webPubSub] = await Promise.all([
    probe(async () => {
      await services.cosmos.client.database(services.config.cosmos.database).read();
      parkedBatches = await services.states.parkedCount();
    }),
    probe(() => services.gateway.client.groupExists('health-probe')),
  ]);
  const ok = cosmos.ok && webPubSub.ok;
  return json(ok ? 200 : 503, {
    status: ok ? 'ok' : 'degraded',
    dependencies: { cosmos, webPubSub },
    // Change-feed documents set aside after failures retrying could not fix (ops view per meeting:
    // POST /api/ops/meetings/{id}/rebuild). Anything above 0 needs an operator.
    // Hop latency from accepted, over every meeting this instance handled since it started
    // (docs/delivery-design.md, "Hop latency").
    processing: { parkedBatches, latency: services.meter.instance() },
  });
});

app.http('health', { route: 'health', methods: ['GET'], authLevel: 'anonymous', handler: health });
