/**
 * The live analytics panel: every value comes from the analytics envelopes the backend sends (or
 * the snapshot the page started from), drawn as plain HTML and inline SVG (no chart library:
 * the charts are bars, and the bundle budget is better spent elsewhere). Hop latency is what this
 * page measures itself from each event's trace: accepted → processed (server) and accepted →
 * received here (end to end).
 */
import { html } from 'htm/preact';
import { nameOf, quantile, type RoomModel } from './model';

export function AnalyticsPanel({ room }: { room: RoomModel }) {
  const a = room.analytics;
  const talkers = (a.talkTime?.participants ?? []).filter((t) => t.totalMs > 0).slice(0, 8);
  const engaged = (a.engagement?.participants ?? []).filter((e) => e.score > 0).slice(0, 8);
  const emoji = (a.reactions?.emoji ?? []).filter((e) => e.count > 0);
  const maxEmoji = Math.max(1, ...emoji.map((e) => e.count));
  const maxScore = Math.max(1, ...engaged.map((e) => e.score));
  return html`<section class="panel analytics" aria-labelledby="analytics-h" data-testid="analytics">
    <h2 id="analytics-h">Live analytics</h2>
    <dl class="tiles">
      <div>
        <dt>Chat (60 s)</dt>
        <dd data-testid="chat-rate">${fmt(a.chatRate?.perMinute)}<small>/min</small></dd>
      </div>
      <div>
        <dt>Reactions (10 s)</dt>
        <dd data-testid="reactions-total">${a.reactions?.total ?? 0}</dd>
      </div>
      <div>
        <dt>Attendance</dt>
        <dd data-testid="attendance">
          ${a.attendance?.present ?? room.present}<small> now · peak ${a.attendance?.peak ?? 0}</small>
        </dd>
      </div>
      <div>
        <dt>Balance (Gini)</dt>
        <dd data-testid="balance" title="0 = everyone talks equally">${fmt(a.balance?.gini, 2)}</dd>
      </div>
      <div>
        <dt>Hop latency p50 / p95</dt>
        <dd data-testid="latency">
          ${ms(quantile(room.latency.totalMs, 0.5))} / ${ms(quantile(room.latency.totalMs, 0.95))}
          <small> server ${ms(quantile(room.latency.serverMs, 0.5))}</small>
        </dd>
      </div>
    </dl>
    <h3>Reactions per emoji (10 s)</h3>
    <ul class="bars" data-testid="reaction-bars">
      ${emoji.length === 0 && html`<li class="muted">none</li>`}
      ${emoji.map(
        (e) =>
          html`<li key=${e.emoji}>
            <span class="label">${e.emoji}</span><${Bar} value=${e.count / maxEmoji} /><span>${e.count}</span>
          </li>`,
      )}
    </ul>
    <h3>Talk time share</h3>
    <ul class="bars" data-testid="talk-bars">
      ${talkers.length === 0 && html`<li class="muted">nobody has spoken</li>`}
      ${talkers.map(
        (t) =>
          html`<li key=${t.participantId}>
            <span class="label">${nameOf(room, t.participantId)}</span><${Bar} value=${t.share} /><span
              >${Math.round(t.share * 100)}%</span
            >
          </li>`,
      )}
    </ul>
    <h3>Engagement (5 min)</h3>
    <ul class="bars" data-testid="engagement-bars">
      ${engaged.length === 0 && html`<li class="muted">no activity yet</li>`}
      ${engaged.map(
        (e) =>
          html`<li key=${e.participantId}>
            <span class="label">${nameOf(room, e.participantId)}</span
            ><${Bar} value=${e.score / maxScore} /><span>${fmt(e.score)}</span>
          </li>`,
      )}
    </ul>
    <h3>Top keywords (captions)</h3>
    <p class="keywords" data-testid="keywords">
      ${(a.keywords?.keywords ?? []).length === 0 && html`<span class="muted">no captions yet</span>`}
      ${(a.keywords?.keywords ?? []).map(
        (k) => html`<span class="chip" key=${k.word}>${k.word} <small>${k.count}</small></span>`,
      )}
    </p>
    <h3>Events per minute</h3>
    <${Timeline} minutes=${a.timeline?.minutes ?? []} />
  </section>`;
}

function Bar({ value }: { value: number }) {
  const pct = Math.max(0, Math.min(1, value)) * 100;
  return html`<span class="meter" aria-hidden="true"><span style=${`width:${pct}%`}></span></span>`;
}

function Timeline({ minutes }: { minutes: Array<{ start: number; counts: Record<string, number> }> }) {
  const last = minutes.slice(-30);
  const totals = last.map((m) => Object.values(m.counts).reduce((a, b) => a + b, 0));
  const max = Math.max(1, ...totals);
  const w = 300;
  const h = 60;
  // Thirty slots whatever the meeting's age, so a young meeting's bars are not one wide block.
  const bw = w / 30;
  return html`<svg
    class="timeline"
    preserveAspectRatio="none"
    viewBox=${`0 0 ${w} ${h}`}
    role="img"
    aria-label=${`Events per minute over the last ${last.length} minutes`}
    data-testid="timeline"
  >
    ${last.map((m, i) => {
      const bh = ((totals[i] ?? 0) / max) * (h - 4);
      return html`<rect key=${m.start} x=${i * bw + 1} y=${h - bh} width=${Math.max(1, bw - 2)} height=${bh}>
        <title>${new Date(m.start).toLocaleTimeString()}: ${totals[i]} events</title>
      </rect>`;
    })}
  </svg>`;
}

function fmt(n: number | undefined, digits = 1): string {
  return n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(digits).replace(/\.0+$/, '');
}

function ms(n: number | undefined): string {
  return n === undefined ? '–' : `${Math.round(n)} ms`;
}
