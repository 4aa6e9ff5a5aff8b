import { CLIENT_TYPES, initialModel, rebuildFromEvents } from '../../lib/domain/meeting';
import { buildSummary, escapeXml, renderSummaryHtml, renderSummarySvg } from '../../lib/summary';
import { script, T0 } from '../fixtures/events';
import { generateMeeting } from '../fixtures/meetingScript';
import { reference } from '../fixtures/reference';

/**
 * A tiny XML well-formedness check: tags nest and close properly, attribute values are quoted,
 * and text and attributes contain no raw `<` and no `&` that does not start an entity.
 */
function assertWellFormed(doc: string): void {
  const token =
    /<!--[\s\S]*?-->|<!DOCTYPE[^<>]*>|<(\/?)([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+="[^"<]*")*)\s*(\/?)>|<|[^<]+/g;
  const entity = /&(?:amp|lt|gt|quot|#39|#\d+|#x[0-9a-fA-F]+);/g;
  const stack: string[] = [];
  let m: RegExpExecArray | null;
  let roots = 0;
  while ((m = token.exec(doc))) {
    const [text, closing, name, attrs, selfClosing] = m;
    if (text === '<') throw new Error(`stray "<" at ${m.index}: ${doc.slice(m.index, m.index + 40)}`);
    if (name === undefined) {
      if (text.startsWith('<!')) continue;
      if (text.replace(entity, '').includes('&')) throw new Error(`bare "&" in text: ${text.slice(0, 60)}`);
      if (stack.length === 0 && text.trim()) throw new Error(`text outside the root: ${text.slice(0, 40)}`);
      continue;
    }
    if ((attrs ?? '').replace(entity, '').includes('&'))
      throw new Error(`bare "&" in attributes of <${name}>`);
    if (closing) {
      const open = stack.pop();
      if (open !== name) throw new Error(`</${name}> closes <${open}>`);
    } else if (!selfClosing) {
      if (stack.length === 0) roots++;
      stack.push(name);
    } else if (stack.length === 0) roots++;
  }
  if (stack.length) throw new Error(`unclosed: ${stack.join(' > ')}`);
  if (roots !== 1) throw new Error(`expected one root element, found ${roots}`);
}

describe('the well-formedness checker', () => {
  test('accepts good markup and rejects broken markup', () => {
    expect(() => assertWellFormed('<svg a="1"><g><text>a &amp; b</text></g><rect/></svg>')).not.toThrow();
    expect(() => assertWellFormed('<svg><g></svg>')).toThrow();
    expect(() => assertWellFormed('<svg><text>a & b</text></svg>')).toThrow();
    expect(() => assertWellFormed('<svg><text>a < b</text></svg>')).toThrow();
    expect(() => assertWellFormed('<svg a=1></svg>')).toThrow();
  });
});

describe('meeting summary', () => {
  const events = generateMeeting({ seed: 42 });
  const NOW = Date.UTC(2026, 0, 6);
  const { model } = rebuildFromEvents(events, NOW);
  const summary = buildSummary(model, NOW, { meetingId: 'fixture', title: 'Weekly <b>sync</b> & "review"' });
  const ref = reference(events, NOW);

  test('its numbers match the brute-force reference', () => {
    expect(summary.final).toBe(true);
    expect(summary.asOf).toBe(ref.T);
    expect(summary.startedAt).toBe(ref.startedAt);
    expect(summary.endedAt).toBe(ref.endedAt);
    expect(summary.durationMs).toBe(ref.endedAt! - ref.startedAt!);
    expect(summary.attendance.peak).toBe(ref.peak);
    expect(summary.attendance.total).toBe(ref.total);
    for (const p of summary.attendance.participants) {
      expect(p.intervals).toEqual(ref.attendance[p.participantId]);
      expect(p.presentMs).toBe(ref.presentMs[p.participantId]);
      expect(p.displayName).toBe(ref.names[p.participantId]);
    }
    const sum = summary.attendance.participants.reduce(
      (s, p) => s + (ref.talkTotal[p.participantId] ?? 0),
      0,
    );
    expect(summary.talkTime.totalMs).toBe(sum);
    for (const t of summary.talkTime.participants) {
      expect(t.totalMs).toBe(ref.talkTotal[t.participantId] ?? 0);
      expect(Math.abs(t.share - (ref.talkTotal[t.participantId] ?? 0) / sum)).toBeLessThan(1e-9);
    }
    expect(Math.abs(summary.talkTime.gini - ref.gini)).toBeLessThan(1e-9);
    expect(summary.chat.messages).toBe(ref.chatTotal);
    expect(Object.fromEntries(summary.reactions.byEmoji.map((e) => [e.emoji, e.count]))).toEqual(
      ref.reactionTotals,
    );
    expect(
      summary.polls.map((p) => ({ pollId: p.pollId, status: p.status, tallies: p.tallies, votes: p.votes })),
    ).toEqual(ref.polls);
    expect(summary.keywords).toEqual(ref.keywords);
    expect(summary.timeline.minutes).toEqual(ref.timeline);
    expect(summary.timeline.totals).toEqual(ref.totals);
    const fromParticipants = ref.accepted.filter((e) => CLIENT_TYPES.has(e.eventType)).length;
    expect(summary.events).toEqual({
      accepted: fromParticipants,
      system: ref.accepted.length - fromParticipants,
      rejected: ref.rejected,
    });
  });

  test('an ended meeting’s summary does not change with time', () => {
    expect(buildSummary(model, NOW + 86_400_000, { meetingId: 'fixture', title: 't' })).toEqual({
      ...buildSummary(model, NOW, { meetingId: 'fixture', title: 't' }),
      generatedAt: NOW + 86_400_000,
    });
  });

  test('the SVG charts and the HTML page are well-formed', () => {
    const svg = renderSummarySvg(summary);
    for (const doc of [svg.talkTime, svg.timeline, svg.polls]) {
      expect(doc.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
      assertWellFormed(doc);
    }
    assertWellFormed(renderSummaryHtml(summary).replace(/^<!DOCTYPE html>\n/, ''));
  });

  test('user text is escaped: a participant named <script>alert(1)</script> stays text', () => {
    const svg = renderSummarySvg(summary);
    const html = renderSummaryHtml(summary);
    expect(svg.talkTime + html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    for (const doc of [svg.talkTime, svg.timeline, svg.polls, html]) {
      expect(doc).not.toMatch(/<script/i);
      expect(doc).not.toContain('<b>');
    }
    expect(html).toContain('Weekly &lt;b&gt;sync&lt;/b&gt; &amp; &quot;review&quot;');
    expect(svg.polls).toContain('what about &lt;b&gt;');
    expect(html).toContain('Content-Security-Policy" content="default-src \'none\'');
  });

  test('hostile text with quotes, control characters and lone surrogates still gives well-formed output', () => {
    const s = script();
    s.start(0);
    s.join('h', 0, 'host', 'x"\' onload="alert(1)\u0001\ud800');
    s.add('poll.open', 10, 'h', {
      pollId: 'p',
      question: ']]><!-- <svg onload=alert(1)> &amp;',
      options: ['<', '&'],
    });
    s.add('speaking.start', 20, 'h');
    const m = rebuildFromEvents(s.events, T0 + 60_000).model;
    const sum = buildSummary(m, T0 + 60_000, { meetingId: 'm1', title: '\u0000</title></svg>' });
    const svg = renderSummarySvg(sum);
    for (const doc of [svg.talkTime, svg.timeline, svg.polls]) assertWellFormed(doc);
    assertWellFormed(renderSummaryHtml(sum).replace(/^<!DOCTYPE html>\n/, ''));
    expect(svg.talkTime).toContain('x&quot;&#39; onload=&quot;alert(1)\ufffd\ufffd');
    expect(escapeXml('a\ud83d\ude00b')).toBe('a\ud83d\ude00b'); // a valid pair survives
  });

  test('a meeting still running reports so far; an empty meeting renders placeholders', () => {
    const live = rebuildFromEvents(generateMeeting({ seed: 5, end: false }), 0).model;
    const sum = buildSummary(live, live.clock! + 60_000, { meetingId: 'm', title: 'Live' });
    expect(sum.final).toBe(false);
    expect(sum.durationMs).toBe(live.clock! + 60_000 - live.startedAt!);
    const empty = buildSummary(initialModel(), T0, { meetingId: 'e', title: 'Empty' });
    expect(empty.durationMs).toBe(0);
    const svg = renderSummarySvg(empty);
    expect(svg.talkTime).toContain('Nobody talked.');
    expect(svg.polls).toContain('No polls.');
    for (const doc of [svg.talkTime, svg.timeline, svg.polls]) assertWellFormed(doc);
    assertWellFormed(renderSummaryHtml(empty).replace(/^<!DOCTYPE html>\n/, ''));
  });

  describe('the report reads without guessing', () => {
    // A one-minute meeting: two people, one talks twice (start/stop pairs), reactions, a caption.
    const s = script();
    s.start(0);
    s.join('ann', 1_000, 'host', 'Ann');
    s.join('bob', 2_000, 'attendee', 'Bob');
    s.add('speaking.start', 5_000, 'ann');
    s.add('speaking.stop', 15_000, 'ann');
    s.add('speaking.start', 20_000, 'ann');
    s.add('speaking.stop', 30_000, 'ann');
    s.add('caption.segment', 31_000, 'ann', { text: 'hello world', startMs: 0, endMs: 900, final: true });
    s.add('reaction', 32_000, 'bob', { emoji: '👍' });
    s.add('reaction', 33_000, 'bob', { emoji: '🎉' });
    s.end(50_000);
    const model = rebuildFromEvents(s.events, T0 + 60_000).model;
    const short = buildSummary(model, T0 + 60_000, {
      meetingId: 'short',
      title: 'Short',
      latency: {
        committed: { count: 9, p50: 12, p95: 20, p99: 31, max: 31 },
        processed: { count: 9, p50: 80, p95: 140, p99: 160, max: 170 },
        pushed: null,
      },
    });
    const timeline = renderSummarySvg(short).timeline;
    const html = renderSummaryHtml(short);

    test('a one-minute meeting’s timeline has a time label at each end of its minute, and its y-axis says what it counts', () => {
      const labels = [...timeline.matchAll(/>(\d\d:\d\d)<\/text>/g)].map((m) => m[1]);
      const start = new Date(T0).toISOString().slice(11, 16);
      const end = new Date(T0 + 60_000).toISOString().slice(11, 16);
      expect(labels).toEqual([start, end]);
      expect(timeline).toContain('events per minute');
      expect(timeline).toContain('time (UTC)');
    });

    test('speaking counts turns, not start and stop events, and captions are their own category', () => {
      expect(timeline).not.toContain('>Speech<');
      expect(timeline).toContain('>Speaking turns<');
      expect(timeline).toContain('>Captions<');
      // The column for the one minute: chat 0, reactions 2, captions 1, speaking turns 2, hands 0,
      // joins 2 → 7 events at most, the y-axis top.
      expect(timeline).toMatch(/text-anchor="end" fill="#6b7280">7<\/text>/);
    });

    test('the HTML page explains the balance index, names every emoji, and shows times of day in UTC, not raw ISO timestamps', () => {
      expect(html).toContain('Gini coefficient of talk time');
      expect(html).toContain('👍 thumbs up: 1');
      expect(html).toContain('🎉 party: 1');
      expect(html).not.toMatch(/\d{4}-\d\d-\d\dT\d\d:\d\d/);
      expect(html).toContain(`${new Date(T0 + 1_000).toISOString().slice(11, 19)} – `);
    });

    test('the HTML page shows the delivery latency per hop, and says which hops were not measured', () => {
      expect(html).toContain('Delivery latency');
      expect(html).toMatch(/accepted → committed\)<\/td><td>12 ms<\/td><td>20 ms<\/td><td>31 ms<\/td><td>9</);
      expect(html).toMatch(
        /accepted → sent to every connection\)<\/td><td colspan="4" class="muted">not measured here/,
      );
      expect(buildSummary(model, T0 + 60_000, { meetingId: 'x', title: 'x' }).latency).toBeNull();
      assertWellFormed(html.replace(/^<!DOCTYPE html>\n/, ''));
    });
  });
});
