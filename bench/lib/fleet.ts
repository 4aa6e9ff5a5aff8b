/**
 * Meetings and participants for a benchmark, created through the public HTTP API exactly as an
 * app would: create (host), join with the code, negotiate a Web PubSub URL per participant.
 */
import { JsonClient, pool } from './http';

export interface BenchParticipant {
  meetingIndex: number;
  meetingId: string;
  participantId: string;
  token: string;
  /** Web PubSub client URL from negotiate. */
  url: string;
}

export interface Fleet {
  meetings: string[];
  /** participants[m][p]: participant p of meeting m; p = 0 is the host. */
  participants: BenchParticipant[][];
  setupMs: number;
}

export async function createFleet(
  client: JsonClient,
  meetings: number,
  perMeeting: number,
  concurrency = 16,
): Promise<Fleet> {
  const t0 = performance.now();
  const created = await pool(
    Array.from({ length: meetings }, (_, i) => i),
    concurrency,
    async (i) => {
      const res = await retrying(() =>
        client.request<{
          meeting: { id: string };
          joinCode: string;
          hostToken: string;
          host: { id: string };
        }>('POST', '/meetings', { body: { title: `bench meeting ${i}` } }),
      );
      if (res.status !== 201) throw new Error(`create meeting: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body;
    },
  );
  const joins: Array<{ m: number; p: number }> = [];
  for (let m = 0; m < meetings; m++) for (let p = 1; p < perMeeting; p++) joins.push({ m, p });
  const participants: BenchParticipant[][] = created.map((c, m) => [
    { meetingIndex: m, meetingId: c.meeting.id, participantId: c.host.id, token: c.hostToken, url: '' },
  ]);
  await pool(joins, concurrency, async ({ m, p }) => {
    const c = created[m]!;
    const res = await retrying(() =>
      client.request<{ token: string; participant: { id: string } }>(
        'POST',
        `/meetings/${c.meeting.id}/join`,
        {
          body: { displayName: `P${m}-${p}`, joinCode: c.joinCode },
        },
      ),
    );
    if (res.status !== 201) throw new Error(`join: ${res.status} ${JSON.stringify(res.body)}`);
    participants[m]![p] = {
      meetingIndex: m,
      meetingId: c.meeting.id,
      participantId: res.body.participant.id,
      token: res.body.token,
      url: '',
    };
  });
  await pool(participants.flat(), concurrency, async (participant) => {
    const res = await retrying(() =>
      client.request<{ url: string }>('POST', `/meetings/${participant.meetingId}/negotiate`, {
        token: participant.token,
      }),
    );
    if (res.status !== 200) throw new Error(`negotiate: ${res.status} ${JSON.stringify(res.body)}`);
    participant.url = res.body.url;
  });
  return { meetings: created.map((c) => c.meeting.id), participants, setupMs: performance.now() - t0 };
}

/** Setup calls ride out throttling (429/503 with Retry-After) and brief connection errors. */
async function retrying<T extends { status: number; headers: Record<string, unknown> }>(
  call: () => Promise<T>,
  attempts = 20,
): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      const res = await call();
      if ((res.status !== 429 && res.status !== 503) || i >= attempts) return res;
      const after = Number(res.headers['retry-after'] ?? 1);
      await new Promise((r) => setTimeout(r, Math.min(5, after) * 1000));
    } catch (err) {
      if (i >= attempts) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}
