/**
 * Charts and a report page for a meeting summary: standalone SVG documents (talk-time share,
 * activity timeline, poll results) and an HTML page embedding them. All user text (title, names,
 * poll questions and options, keywords) is untrusted: it is escaped for XML/HTML text and
 * attributes, characters XML cannot carry are replaced, and the page's Content-Security-Policy
 * forbids scripts and remote loads in case anything ever slips through.
 */
import type { ReactionEmoji } from '../protocol';
import type { MeetingSummary } from './summary';

/**
 * Emoji glyphs depend on the viewer's fonts (a report opened on a server or an old system shows
 * boxes), so every emoji in the report is followed by its name. Typed by the protocol's list, so a
 * new reaction without a name does not compile.
 */
export const REACTION_NAMES: Record<ReactionEmoji, string> = {
  '👍': 'thumbs up',
  '👎': 'thumbs down',
  '❤️': 'heart',
  '😂': 'laughing',
  '😮': 'surprised',
  '😢': 'sad',
  '👏': 'clapping',
  '🎉': 'party',
  '🙌': 'raised hands',
  '🔥': 'fire',
  '🤔': 'thinking',
  '✅': 'check',
};

const reactionLabel = (emoji: string) => {
  const name = (REACTION_NAMES as Record<string, string | undefined>)[emoji];
  return name ? `${emoji} ${name}` : emoji;
};

// ---------- escaping and formatting ----------

// Characters not allowed in XML 1.0 documents (control characters, lone surrogates, U+FFFE/F).
const XML_INVALID = new RegExp(
  [
    '[\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\ufffe\\uffff]',
    '[\\ud800-\\udbff](?![\\udc00-\\udfff])',
    '(?<![\\ud800-\\udbff])[\\udc00-\\udfff]',
  ].join('|'),
  'g',
);

/** Escapes text for XML/HTML element content and double- or single-quoted attribute values. */
export function escapeXml(text: string): string {
  return String(text)
    .replace(XML_INVALID, '\ufffd')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** Shortens to at most `max` characters (by code point) with an ellipsis; call before escaping. */
function clip(text: string, max: number): string {
  const chars = [...text];
  return chars.length <= max ? text : chars.slice(0, max - 1).join('') + '…';
}

/** hh:mm in UTC (the report states its time zone). */
export function clockTime(t: number): string {
  return new Date(t).toISOString().slice(11, 16);
}

/** hh:mm:ss in UTC. */
function clockSeconds(t: number): string {
  return new Date(t).toISOString().slice(11, 19);
}

export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (h) return `${h} h ${String(m).padStart(2, '0')} min`;
  if (m) return `${m} min ${String(sec).padStart(2, '0')} s`;
  return `${sec} s`;
}

const pct = (x: number) => `${(x * 100).toFixed(x > 0 && x < 0.1 ? 1 : 0)}%`;
const n = (x: number) => (Number.isFinite(x) ? Math.round(x * 10) / 10 : 0);

const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif"';
const COLORS = ['#2563eb', '#16a34a', '#f59e0b', '#db2777', '#7c3aed', '#0891b2', '#9ca3af'];

function svgDocument(width: number, height: number, title: string, body: string[]): string {
  const t = escapeXml(title);
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
    `role="img" aria-label="${t}" ${FONT} font-size="13">` +
    `<title>${t}</title><rect width="${width}" height="${height}" fill="#ffffff"/>` +
    `<text x="16" y="26" font-size="16" font-weight="600" fill="#111827">${t}</text>` +
    body.join('') +
    '</svg>'
  );
}

// ---------- charts ----------

const TALK_ROWS = 15;

/** Horizontal bars: each participant's share of the talk time (top 15, the rest as "Others"). */
export function talkTimeSvg(summary: MeetingSummary): string {
  const talkers = summary.talkTime.participants.filter((p) => p.totalMs > 0);
  const rows: Array<{ label: string; share: number; ms: number; color: string }> = talkers
    .slice(0, TALK_ROWS)
    .map((p, i) => ({
      label: p.displayName || p.participantId,
      share: p.share,
      ms: p.totalMs,
      color: COLORS[i % (COLORS.length - 1)] as string,
    }));
  const rest = talkers.slice(TALK_ROWS);
  if (rest.length) {
    rows.push({
      label: `Others (${rest.length})`,
      share: rest.reduce((s, p) => s + p.share, 0),
      ms: rest.reduce((s, p) => s + p.totalMs, 0),
      color: COLORS[COLORS.length - 1] as string,
    });
  }
  const width = 640;
  const labelW = 190;
  const barMax = width - labelW - 130;
  const top = 44;
  const rowH = 26;
  const height = top + Math.max(1, rows.length) * rowH + 16;
  const body: string[] = [];
  if (rows.length === 0) {
    body.push(`<text x="16" y="${top + 16}" fill="#6b7280">Nobody talked.</text>`);
  }
  rows.forEach((row, i) => {
    const y = top + i * rowH;
    const w = n(Math.max(0, Math.min(1, row.share)) * barMax);
    body.push(
      `<text x="${labelW - 8}" y="${y + 16}" text-anchor="end" fill="#374151">${escapeXml(clip(row.label, 26))}</text>`,
      `<rect x="${labelW}" y="${y + 4}" width="${w}" height="16" rx="3" fill="${row.color}"/>`,
      `<text x="${n(labelW + w + 6)}" y="${y + 16}" fill="#111827">${pct(row.share)} · ${escapeXml(formatDuration(row.ms))}</text>`,
    );
  });
  return svgDocument(width, height, 'Talk-time share', body);
}

const CATEGORIES: Array<{ name: string; types: string[] }> = [
  { name: 'Chat', types: ['chat.message'] },
  { name: 'Reactions', types: ['reaction'] },
  // Counted as events like every column: a turn is one speaking.start, however long it lasts (the
  // talk-time chart has the seconds).
  { name: 'Captions', types: ['caption.segment'] },
  { name: 'Speaking turns', types: ['speaking.start'] },
  { name: 'Hands & polls', types: ['hand.raise', 'hand.lower', 'poll.open', 'poll.vote', 'poll.close'] },
  { name: 'Join & leave', types: ['participant.joined', 'participant.left'] },
];

/** Stacked columns: events per minute by category over the kept minutes of the timeline. */
export function timelineSvg(summary: MeetingSummary): string {
  const minutes = summary.timeline.minutes;
  const minuteMs = summary.timeline.minuteMs;
  const width = 720;
  const left = 48;
  const right = 16;
  const top = 44;
  const plotH = 180;
  const height = top + plotH + 84;
  const body: string[] = [];
  if (minutes.length === 0) {
    body.push(`<text x="16" y="${top + 16}" fill="#6b7280">No activity.</text>`);
    return svgDocument(width, height, 'Activity per minute', body);
  }
  const first = (minutes[0] as { start: number }).start;
  const last = (minutes[minutes.length - 1] as { start: number }).start;
  const span = Math.round((last - first) / minuteMs) + 1;
  const colW = (width - left - right) / span;
  const stacks = minutes.map((m) =>
    CATEGORIES.map((c) => c.types.reduce((s, t) => s + (m.counts[t] ?? 0), 0)),
  );
  const maxTotal = Math.max(1, ...stacks.map((s) => s.reduce((a, b) => a + b, 0)));
  // Axis
  body.push(
    `<line x1="${left}" y1="${top + plotH}" x2="${width - right}" y2="${top + plotH}" stroke="#9ca3af"/>`,
    `<line x1="${left}" y1="${top}" x2="${left}" y2="${top + plotH}" stroke="#9ca3af"/>`,
    `<text x="${left - 6}" y="${top + 10}" text-anchor="end" fill="#6b7280">${maxTotal}</text>`,
    `<text x="${left - 6}" y="${top + plotH}" text-anchor="end" fill="#6b7280">0</text>`,
    `<text x="${left - 34}" y="${top + plotH / 2}" text-anchor="middle" fill="#6b7280" font-size="11" ` +
      `transform="rotate(-90 ${left - 34} ${top + plotH / 2})">events per minute</text>`,
  );
  minutes.forEach((m, i) => {
    const x = left + ((m.start - first) / minuteMs) * colW;
    let y = top + plotH;
    (stacks[i] as number[]).forEach((count, c) => {
      if (!count) return;
      const h = (count / maxTotal) * plotH;
      y -= h;
      body.push(
        `<rect x="${n(x + 0.5)}" y="${n(y)}" width="${n(Math.max(1, colW - 1))}" height="${n(h)}" fill="${COLORS[c]}"/>`,
      );
    });
  });
  // Clock-time labels (UTC) on minute boundaries, the first and the last always included, so even
  // a one-minute meeting shows where its minute starts and ends: every minute up to six, else
  // about six at round steps (5, 10, 15 … minutes).
  const step = span <= 6 ? 1 : Math.ceil(span / 6 / 5) * 5;
  const ticks = new Set<number>([0, span]);
  for (let k = step; k < span; k += step) if (span - k >= step / 2) ticks.add(k);
  for (const k of [...ticks].sort((a, b) => a - b)) {
    const x = left + k * colW;
    body.push(
      `<line x1="${n(x)}" y1="${top + plotH}" x2="${n(x)}" y2="${top + plotH + 4}" stroke="#9ca3af"/>`,
      `<text x="${n(x)}" y="${top + plotH + 16}" text-anchor="middle" fill="#6b7280">${clockTime(first + k * minuteMs)}</text>`,
    );
  }
  body.push(
    `<text x="${n((left + width - right) / 2)}" y="${top + plotH + 34}" text-anchor="middle" fill="#6b7280" font-size="11">time (UTC)</text>`,
  );
  // Legend
  CATEGORIES.forEach((c, i) => {
    const x = left + i * 112;
    const y = top + plotH + 58;
    body.push(
      `<rect x="${x}" y="${y - 10}" width="12" height="12" fill="${COLORS[i]}"/>`,
      `<text x="${x + 18}" y="${y}" fill="#374151">${escapeXml(c.name)}</text>`,
    );
  });
  return svgDocument(width, height, 'Activity per minute', body);
}

/** One block per poll: its question and a bar per option with votes and percentage. */
export function pollsSvg(summary: MeetingSummary): string {
  const width = 640;
  const labelW = 200;
  const barMax = width - labelW - 110;
  let y = 44;
  const body: string[] = [];
  if (summary.polls.length === 0) {
    body.push(`<text x="16" y="${y + 16}" fill="#6b7280">No polls.</text>`);
    y += 30;
  }
  for (const poll of summary.polls) {
    const status = poll.status === 'open' ? ' (open)' : '';
    body.push(
      `<text x="16" y="${y + 14}" font-weight="600" fill="#111827">${escapeXml(clip(poll.question, 80))}${status}</text>`,
      `<text x="${width - 16}" y="${y + 14}" text-anchor="end" fill="#6b7280">${poll.votes} vote${poll.votes === 1 ? '' : 's'}</text>`,
    );
    y += 22;
    const max = Math.max(1, ...poll.tallies);
    poll.options.forEach((option, i) => {
      const count = poll.tallies[i] ?? 0;
      const w = n((count / max) * barMax);
      body.push(
        `<text x="${labelW - 8}" y="${y + 14}" text-anchor="end" fill="#374151">${escapeXml(clip(option, 28))}</text>`,
        `<rect x="${labelW}" y="${y + 2}" width="${w}" height="16" rx="3" fill="${COLORS[i % (COLORS.length - 1)]}"/>`,
        `<text x="${n(labelW + w + 6)}" y="${y + 14}" fill="#111827">${count} · ${pct(poll.votes ? count / poll.votes : 0)}</text>`,
      );
      y += 22;
    });
    y += 12;
  }
  return svgDocument(width, y + 8, 'Poll results', body);
}

/** The three charts as standalone SVG documents. */
export function renderSummarySvg(summary: MeetingSummary): {
  talkTime: string;
  timeline: string;
  polls: string;
} {
  return { talkTime: talkTimeSvg(summary), timeline: timelineSvg(summary), polls: pollsSvg(summary) };
}

// ---------- HTML ----------

const CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

/** A standalone report page (well-formed XHTML-compatible HTML) embedding the charts inline. */
export function renderSummaryHtml(summary: MeetingSummary): string {
  const svg = renderSummarySvg(summary);
  // Dates once, in the stats; times of day elsewhere. All UTC, said so in the labels.
  const when = (t: number | null) =>
    t === null ? '—' : `${new Date(t).toISOString().slice(0, 10)} ${clockSeconds(t)} UTC`;
  const latency = summary.latency;
  const hops: Array<[string, keyof NonNullable<typeof latency>]> = [
    ['Stored (accepted → committed)', 'committed'],
    ['Processed (accepted → in the log)', 'processed'],
    ['Pushed (accepted → sent to every connection)', 'pushed'],
  ];
  const title = escapeXml(summary.title);
  const stats: Array<[string, string]> = [
    ['Status', summary.final ? 'ended' : `${summary.status} (so far)`],
    ['Started', when(summary.startedAt)],
    ['Ended', when(summary.endedAt)],
    ['Duration', formatDuration(summary.durationMs)],
    ['Participants', `${summary.attendance.total} (peak ${summary.attendance.peak} at once)`],
    ['Chat messages', String(summary.chat.messages)],
    [
      'Reactions',
      summary.reactions.byEmoji.map((e) => `${reactionLabel(e.emoji)}: ${e.count}`).join(', ') || '0',
    ],
    ['Talk time', formatDuration(summary.talkTime.totalMs)],
    [
      'Talk balance',
      `${summary.talkTime.gini.toFixed(2)}: the Gini coefficient of talk time over the participants ` +
        'present at the end, from 0 (everyone talked equally) to 1 (one person did all the talking)',
    ],
  ];
  const attendanceRows = summary.attendance.participants.map(
    (p) =>
      `<tr><td>${escapeXml(p.displayName || p.participantId)}</td><td>${escapeXml(p.role)}</td>` +
      `<td>${escapeXml(formatDuration(p.presentMs))}</td>` +
      `<td>${p.intervals.map((i) => `${clockSeconds(i.from)} – ${clockSeconds(i.to)}`).join('<br />')}</td></tr>`,
  );
  const latencyRows = latency
    ? hops.map(([label, hop]) => {
        const q = latency[hop];
        return q
          ? `<tr><td>${escapeXml(label)}</td><td>${q.p50} ms</td><td>${q.p95} ms</td><td>${q.p99} ms</td><td>${q.count}</td></tr>`
          : `<tr><td>${escapeXml(label)}</td><td colspan="4" class="muted">not measured here</td></tr>`;
      })
    : [];
  const keywords = summary.keywords.map(
    (k) => `<li>${escapeXml(k.word)} <span class="muted">×${k.count}</span></li>`,
  );
  return [
    '<!DOCTYPE html>',
    '<html lang="en" xmlns="http://www.w3.org/1999/xhtml">',
    '<head>',
    '<meta charset="utf-8" />',
    `<meta http-equiv="Content-Security-Policy" content="${CSP}" />`,
    '<meta name="viewport" content="width=device-width, initial-scale=1" />',
    `<title>Meeting summary: ${title}</title>`,
    '<style>body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#111827;max-width:960px}' +
      'table{border-collapse:collapse;margin:1rem 0}td,th{border-bottom:1px solid #e5e7eb;padding:4px 12px;text-align:left;vertical-align:top}' +
      '.muted{color:#6b7280}figure{margin:1.5rem 0}svg{max-width:100%;height:auto}</style>',
    '</head>',
    '<body>',
    `<h1>${title}</h1>`,
    `<p class="muted">Meeting ${escapeXml(summary.meetingId)} · as of ${escapeXml(when(summary.asOf))}</p>`,
    '<table>',
    ...stats.map(([k, v]) => `<tr><th>${escapeXml(k)}</th><td>${escapeXml(v)}</td></tr>`),
    '</table>',
    `<figure>${svg.talkTime}</figure>`,
    `<figure>${svg.timeline}</figure>`,
    `<figure>${svg.polls}</figure>`,
    '<h2>Keywords</h2>',
    keywords.length ? `<ul>${keywords.join('')}</ul>` : '<p class="muted">No captions.</p>',
    '<h2>Attendance</h2>',
    '<table>',
    '<tr><th>Participant</th><th>Role</th><th>Present</th><th>Intervals (UTC)</th></tr>',
    ...attendanceRows,
    '</table>',
    ...(latencyRows.length
      ? [
          '<h2>Delivery latency</h2>',
          '<table>',
          '<tr><th>Hop</th><th>p50</th><th>p95</th><th>p99</th><th>Events</th></tr>',
          ...latencyRows,
          '</table>',
        ]
      : []),
    '</body>',
    '</html>',
    '',
  ].join('\n');
}
