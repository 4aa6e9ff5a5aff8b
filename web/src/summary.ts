/** After the meeting: the summary's figures and its three charts (the server renders the SVGs). */
import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { api, type Credentials, type Summary } from './api';

const CHARTS = [
  ['talkTime', 'Talk time per participant'],
  ['timeline', 'Events per minute'],
  ['polls', 'Poll results'],
] as const;

export function SummaryPage({ creds }: { creds: Credentials }) {
  const [summary, setSummary] = useState<Summary>();
  const [charts, setCharts] = useState<Record<string, string>>({});
  const [error, setError] = useState<string>();
  useEffect(() => {
    const urls: string[] = [];
    (async () => {
      const { summary } = await api.summary(creds.token, creds.meetingId);
      setSummary(summary);
      const loaded: Record<string, string> = {};
      for (const [chart] of CHARTS) {
        const url = await api.chart(creds.token, creds.meetingId, chart);
        urls.push(url);
        loaded[chart] = url;
      }
      setCharts(loaded);
    })().catch((err: unknown) => setError(err instanceof Error ? err.message : String(err)));
    return () => urls.forEach((u) => URL.revokeObjectURL(u));
  }, [creds.meetingId, creds.token]);

  if (error) return html`<main class="page"><p class="error" role="alert">${error}</p></main>`;
  if (!summary) return html`<main class="page"><p aria-live="polite">Loading the summary…</p></main>`;
  const minutes = Math.round(summary.durationMs / 60_000);
  return html`<main class="page summary" data-testid="summary">
    <h1>${summary.title}: ${summary.final ? 'summary' : 'summary so far'}</h1>
    <p><a href=${`#/m/${encodeURIComponent(creds.meetingId)}`}>Back to the room</a></p>
    <dl class="tiles">
      <div>
        <dt>Duration</dt>
        <dd>${minutes} min</dd>
      </div>
      <div>
        <dt>Attendance</dt>
        <dd data-testid="summary-attendance">
          ${summary.attendance.total}<small> total · peak ${summary.attendance.peak}</small>
        </dd>
      </div>
      <div>
        <dt>Chat messages</dt>
        <dd data-testid="summary-chat">${summary.chat.messages}</dd>
      </div>
      <div>
        <dt>Reactions</dt>
        <dd>${summary.reactions.total}</dd>
      </div>
      <div>
        <dt>Talk balance (Gini)</dt>
        <dd>${summary.talkTime.gini.toFixed(2)}</dd>
      </div>
    </dl>
    ${CHARTS.map(
      ([chart, label]) =>
        html`<figure key=${chart}>
          ${charts[chart] ? html`<img src=${charts[chart]} alt=${label} />` : html`<p>…</p>`}
          <figcaption>${label}</figcaption>
        </figure>`,
    )}
    <h2>Top keywords</h2>
    <p>
      ${summary.keywords.map((k) => html`<span class="chip" key=${k.word}>${k.word} <small>${k.count}</small></span>`)}
    </p>
  </main>`;
}
