/**
 * The meeting room: one typed client per page, every envelope folded into the room model, the
 * page re-rendered at most once per animation frame however fast envelopes arrive.
 */
import { html } from 'htm/preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { MeetstreamClient, REACTION_EMOJI, type ConnectionStatus, type Transport } from '@meetstream/client';
// The wire protocol's list of reactions (pure data; the typed client carries types only).

import { API_BASE, api, joinLink, saveCredentials, type Credentials, type MeetingInfo } from './api';
import { AnalyticsPanel } from './analytics';
import { fold, nameOf, presenceOf, roomFromSnapshot, type RoomModel } from './model';
import { QrCode } from './qr';

interface Connection {
  status: ConnectionStatus;
  transport?: Transport;
  catchingUp: boolean;
}

/** Test and debugging hook: the room model of this page (read-only use). */
declare global {
  interface Window {
    meetstreamRoom?: RoomModel;
  }
}

export function Room({ creds }: { creds: Credentials }) {
  const [meeting, setMeeting] = useState<MeetingInfo>();
  const [room, setRoom] = useState<RoomModel>();
  const [, setVersion] = useState(0);
  const [conn, setConn] = useState<Connection>({ status: 'connecting', catchingUp: false });
  const [error, setError] = useState<string>();
  const [notice, setNotice] = useState<string>();
  const client = useRef<MeetstreamClient>();
  const [speaking, setSpeaking] = useState(false);

  // A talk interval counts for 10 minutes without a fresh start (so a crashed page cannot talk for
  // ever): while this participant is speaking, the page renews it every minute.
  useEffect(() => {
    if (!speaking) return;
    const renew = setInterval(
      () => void api.send(creds.token, creds.meetingId, 'speaking.start', {}),
      60_000,
    );
    return () => clearInterval(renew);
  }, [speaking, creds.token, creds.meetingId]);

  useEffect(() => {
    let stopped = false;
    let frame = 0;
    const render = () => {
      if (frame) return;
      frame = requestAnimationFrame(() => {
        frame = 0;
        setVersion((v) => v + 1);
      });
    };
    (async () => {
      const view = await api.meeting(creds.token, creds.meetingId);
      if (stopped) return;
      const model = roomFromSnapshot(view.seq, view.state);
      window.meetstreamRoom = model;
      setMeeting(view.meeting);
      setRoom(model);
      const params = new URLSearchParams(location.hash.split('?')[1] ?? '');
      const forced = params.get('transport');
      const c = new MeetstreamClient({
        baseUrl: API_BASE,
        meetingId: creds.meetingId,
        token: creds.token,
        transport: forced === 'sse' || forced === 'long-poll' || forced === 'websocket' ? forced : 'auto',
        // Chat history: the log from the start; state before view.seq came with the snapshot.
        after: 0,
      });
      client.current = c;
      c.onEnvelope((e) => {
        fold(model, e, Date.now());
        render();
      });
      c.onStatus((status, transport) => setConn((old) => ({ ...old, status, transport })));
      c.onGap(() => {
        setConn((old) => ({ ...old, catchingUp: true }));
        void c.sync().finally(() => setConn((old) => ({ ...old, catchingUp: false })));
      });
      c.onError((err) => {
        if (/401|403/.test(err.message)) setError(err.message);
      });
      await c.start();
      if (stopped) await c.stop();
    })().catch((err: unknown) => setError(err instanceof Error ? err.message : String(err)));
    return () => {
      stopped = true;
      cancelAnimationFrame(frame);
      void client.current?.stop();
    };
  }, [creds.meetingId, creds.token]);

  if (error) return html`<main class="page"><p class="error" role="alert">${error}</p></main>`;
  if (!room || !meeting) return html`<main class="page"><p aria-live="polite">Connecting…</p></main>`;

  const me = room.roster.get(creds.participantId);
  const role = me?.role ?? 'attendee';
  const canPoll = role === 'host' || role === 'presenter';
  const ended = room.status === 'ended';
  /** Runs one API call; a refusal is shown (problem detail) and resolves false. */
  const act = (what: Promise<unknown>): Promise<boolean> =>
    what.then(
      () => {
        setNotice(undefined);
        return true;
      },
      (err: unknown) => {
        setNotice(err instanceof Error ? err.message : String(err));
        return false;
      },
    );
  const send = (type: string, data: unknown) => act(api.send(creds.token, creds.meetingId, type, data));

  return html`
    <header class="bar">
      <h1>${meeting.title}</h1>
      <span class="badge status-${room.status}">${room.status}</span>
      <${ConnectionBadge} conn=${conn} seq=${room.seq} />
      <a href=${`#/m/${encodeURIComponent(creds.meetingId)}/summary`}>Summary</a>
    </header>
    ${notice && html`<p class="error" role="alert">${notice}</p>`}
    <main class="room">
      <section class="panel chat" aria-labelledby="chat-h">
        <h2 id="chat-h">Chat</h2>
        <ol class="messages" aria-live="polite" data-testid="chat">
          ${[...room.chat].reverse().map(
            (line) =>
              html`<li key=${line.seq} data-seq=${line.seq}>
                <span class="who">${nameOf(room, line.actor)}</span>
                <time datetime=${new Date(line.at).toISOString()}>${clock(line.at)}</time>
                <span class="text">${line.text}</span>
              </li>`,
          )}
        </ol>
        <${ChatForm} disabled=${ended} onSend=${(text: string) => send('chat.message', { text })} />
        <h3>Captions</h3>
        <${CaptionForm}
          disabled=${ended}
          onSend=${(text: string, final: boolean) =>
            send('caption.segment', { text, final, startMs: 0, endMs: Math.max(1, text.length * 60) })}
        />
        <ol class="captions" aria-live="polite" data-testid="captions">
          ${room.captions.map(
            (c) =>
              html`<li key=${c.seq} class=${c.final ? '' : 'interim'}>
                <span class="who">${nameOf(room, c.actor)}</span> ${c.text}
              </li>`,
          )}
        </ol>
      </section>

      <section class="panel stage" aria-labelledby="stage-h">
        <h2 id="stage-h">Stage</h2>
        <div class="reactions" role="group" aria-label="Reactions">
          ${REACTION_EMOJI.map(
            (emoji) =>
              html`<button
                key=${emoji}
                disabled=${ended}
                aria-label=${`React ${emoji}`}
                onClick=${() => send('reaction', { emoji })}
              >
                ${emoji}
              </button>`,
          )}
        </div>
        <div class="floating" aria-hidden="true" data-testid="floating">
          ${room.reactions.map(
            (r) => html`<span key=${r.seq} style=${`left:${(r.seq * 37) % 90}%`}>${r.emoji}</span>`,
          )}
        </div>
        <div class="row">
          ${
            room.hands.some((h) => h.participantId === creds.participantId)
              ? html`<button disabled=${ended} onClick=${() => send('hand.lower', {})}>Lower my hand</button>`
              : html`<button disabled=${ended} onClick=${() => send('hand.raise', {})}>Raise hand ✋</button>`
          }
          ${
            speaking
              ? html`<button
                  aria-pressed="true"
                  disabled=${ended}
                  onClick=${() => void send('speaking.stop', {}).then((ok) => ok && setSpeaking(false))}
                >
                  Stop speaking
                </button>`
              : html`<button
                  aria-pressed="false"
                  disabled=${ended}
                  onClick=${() => void send('speaking.start', {}).then((ok) => ok && setSpeaking(true))}
                >
                  I'm speaking 🎙
                </button>`
          }
        </div>
        <p data-testid="speaker">
          Speaking: ${room.speaker.participantId ? nameOf(room, room.speaker.participantId) : 'nobody'}
        </p>
        <h3>Hands (first raised first)</h3>
        <ol class="hands" data-testid="hands">
          ${room.hands.map(
            (h) =>
              html`<li key=${h.participantId}>
                ${nameOf(room, h.participantId)}
                ${
                  role === 'host' &&
                  h.participantId !== creds.participantId &&
                  html`<button
                    class="small"
                    onClick=${() => send('hand.lower', { participantId: h.participantId })}
                    aria-label=${`Lower ${nameOf(room, h.participantId)}'s hand`}
                  >
                    Lower
                  </button>`
                }
              </li>`,
          )}
        </ol>
        <h3>Polls</h3>
        <div data-testid="polls">
          ${[...room.polls.values()].map(
            (poll) =>
              html`<${PollCard}
                key=${poll.pollId}
                poll=${poll}
                canClose=${canPoll && poll.status === 'open' && !ended}
                onVote=${(option: number) => send('poll.vote', { pollId: poll.pollId, option })}
                onClose=${() => send('poll.close', { pollId: poll.pollId })}
              />`,
          )}
        </div>
        ${canPoll && !ended && html`<${PollForm} onOpen=${(q: PollDraft) => send('poll.open', q)} />`}
      </section>

      <section class="panel people" aria-labelledby="people-h">
        <h2 id="people-h">People (${room.present} here)</h2>
        <ul class="roster" data-testid="roster">
          ${[...room.roster.values()].map((member) => {
            const presence = presenceOf(member);
            return html`<li key=${member.participantId} class=${`presence-${presence}`}>
              <span class="who">${member.displayName}</span>
              <span class="badge">${member.role}</span>
              <span class="badge presence">${presence}</span>
              ${
                role === 'host' &&
                member.participantId !== creds.participantId &&
                member.present &&
                html`<span class="controls">
                  ${
                    member.role === 'attendee'
                      ? html`<button
                          class="small"
                          onClick=${() =>
                            act(api.setRole(creds.token, creds.meetingId, member.participantId, 'presenter'))}
                        >
                          Make presenter
                        </button>`
                      : member.role === 'presenter' &&
                        html`<button
                          class="small"
                          onClick=${() =>
                            act(api.setRole(creds.token, creds.meetingId, member.participantId, 'attendee'))}
                        >
                          Make attendee
                        </button>`
                  }
                  <button
                    class="small danger"
                    onClick=${() => act(api.remove(creds.token, creds.meetingId, member.participantId))}
                    aria-label=${`Remove ${member.displayName}`}
                  >
                    Remove
                  </button>
                </span>`
              }
            </li>`;
          })}
        </ul>
        ${role === 'host' && html`<${HostPanel} creds=${creds} ended=${ended} act=${act} />`}
      </section>

      <${AnalyticsPanel} room=${room} />
    </main>
  `;
}

function ConnectionBadge({ conn, seq }: { conn: Connection; seq: number }) {
  const label = conn.catchingUp && conn.status === 'live' ? 'catching up' : conn.status;
  return html`<span class="conn" role="status" data-testid="connection">
    <span class=${`dot dot-${label.replace(' ', '-')}`}></span>
    ${label}${conn.transport ? ` · ${conn.transport}` : ''} · seq <b data-testid="seq">${seq}</b>
  </span>`;
}

/**
 * Sends a text field's content. The field is cleared at once, so the next line can be typed while
 * this one is on its way; a send that fails puts the text back (unless something new was typed).
 */
function submitText(
  text: string,
  setText: (update: string | ((now: string) => string)) => void,
  send: (text: string) => Promise<boolean>,
): void {
  if (!text.trim()) return;
  setText('');
  void send(text).then((sent) => sent || setText((now) => now || text));
}

function ChatForm({ disabled, onSend }: { disabled: boolean; onSend: (text: string) => Promise<boolean> }) {
  const [text, setText] = useState('');
  return html`<form
    class="row"
    onSubmit=${(ev: Event) => {
      ev.preventDefault();
      submitText(text, setText, onSend);
    }}
  >
    <label class="grow">
      <span class="sr-only">Message</span>
      <input
        name="message"
        value=${text}
        maxlength="4000"
        placeholder="Say something"
        disabled=${disabled}
        onInput=${(ev: Event) => setText((ev.target as HTMLInputElement).value)}
      />
    </label>
    <button disabled=${disabled}>Send</button>
  </form>`;
}

interface SpeechRecognitionLike {
  continuous: boolean;
  interimResults: boolean;
  start(): void;
  stop(): void;
  onresult:
    ((ev: { results: ArrayLike<ArrayLike<{ transcript: string }> & { isFinal: boolean }> }) => void) | null;
}

function CaptionForm({
  disabled,
  onSend,
}: {
  disabled: boolean;
  onSend: (text: string, final: boolean) => Promise<boolean>;
}) {
  const [text, setText] = useState('');
  const [listening, setListening] = useState(false);
  const recognition = useRef<SpeechRecognitionLike>();
  const Speech = useMemo(() => {
    const w = window as unknown as Record<string, (new () => SpeechRecognitionLike) | undefined>;
    return w.SpeechRecognition ?? w.webkitSpeechRecognition;
  }, []);
  const toggleSpeech = () => {
    if (!Speech) return;
    if (listening) {
      recognition.current?.stop();
      setListening(false);
      return;
    }
    const r = new Speech();
    r.continuous = true;
    r.interimResults = true;
    r.onresult = (ev) => {
      const last = ev.results[ev.results.length - 1];
      const words = last?.[0]?.transcript.trim();
      if (last && words) void onSend(words, last.isFinal);
    };
    r.start();
    recognition.current = r;
    setListening(true);
  };
  useEffect(() => () => recognition.current?.stop(), []);
  return html`<form
    class="row"
    onSubmit=${(ev: Event) => {
      ev.preventDefault();
      submitText(text, setText, (typed) => onSend(typed, true));
    }}
  >
    <label class="grow">
      <span class="sr-only">Caption</span>
      <input
        name="caption"
        value=${text}
        placeholder="Type a caption"
        disabled=${disabled}
        onInput=${(ev: Event) => setText((ev.target as HTMLInputElement).value)}
      />
    </label>
    <button disabled=${disabled}>Caption</button>
    ${
      Speech &&
      html`<button type="button" aria-pressed=${listening} disabled=${disabled} onClick=${toggleSpeech}>
        ${listening ? 'Stop mic' : 'Mic captions'}
      </button>`
    }
  </form>`;
}

interface PollDraft {
  pollId: string;
  question: string;
  options: string[];
}

function PollCard({
  poll,
  canClose,
  onVote,
  onClose,
}: {
  poll: { pollId: string; question: string; options: string[]; tallies: number[]; status: string };
  canClose: boolean;
  onVote: (option: number) => void;
  onClose: () => void;
}) {
  const total = poll.tallies.reduce((a, b) => a + b, 0);
  return html`<fieldset class="poll" data-poll=${poll.pollId}>
    <legend>${poll.question} <span class="badge">${poll.status}</span></legend>
    ${poll.options.map((option, i) => {
      const votes = poll.tallies[i] ?? 0;
      return html`<div class="option" key=${i}>
        <button class="small" disabled=${poll.status !== 'open'} onClick=${() => onVote(i)}>Vote</button>
        <span class="grow">${option}</span>
        <span class="tally" data-testid="tally">${votes}</span>
        <span class="meter" aria-hidden="true"
          ><span style=${`width:${total ? (100 * votes) / total : 0}%`}></span
        ></span>
      </div>`;
    })}
    ${canClose && html`<button class="small" onClick=${onClose}>Close poll</button>`}
  </fieldset>`;
}

function PollForm({ onOpen }: { onOpen: (draft: PollDraft) => Promise<boolean> }) {
  const [question, setQuestion] = useState('');
  const [options, setOptions] = useState('Yes\nNo');
  const lines = options
    .split('\n')
    .map((o) => o.trim())
    .filter(Boolean);
  return html`<form
    class="poll-form"
    onSubmit=${(ev: Event) => {
      ev.preventDefault();
      const pollId = `poll-${Date.now().toString(36)}`;
      void onOpen({ pollId, question: question.trim(), options: lines }).then(
        (opened) => opened && setQuestion(''),
      );
    }}
  >
    <label
      >Question
      <input
        name="question"
        value=${question}
        maxlength="300"
        required
        onInput=${(ev: Event) => setQuestion((ev.target as HTMLInputElement).value)}
    /></label>
    <label
      >Options (one per line, 2–10)
      <textarea
        name="options"
        rows="3"
        value=${options}
        onInput=${(ev: Event) => setOptions((ev.target as HTMLTextAreaElement).value)}
      ></textarea>
    </label>
    <button disabled=${!question.trim() || lines.length < 2 || lines.length > 10}>Open poll</button>
  </form>`;
}

function HostPanel({
  creds,
  ended,
  act,
}: {
  creds: Credentials;
  ended: boolean;
  act: (p: Promise<unknown>) => Promise<boolean>;
}) {
  const [code, setCode] = useState(creds.joinCode);
  const link = code ? joinLink(creds.meetingId, code) : undefined;
  return html`<div class="host" data-testid="host-controls">
    <h3>Invite</h3>
    ${
      link
        ? html`<p><input readonly aria-label="Join link" value=${link} data-testid="join-link" /></p>
            <${QrCode} text=${link} />`
        : html`<p>Rotate the join code to get a new link.</p>`
    }
    <div class="row">
      <button
        disabled=${ended}
        onClick=${() =>
          act(
            api.rotateCode(creds.token, creds.meetingId).then(({ joinCode }) => {
              setCode(joinCode);
              saveCredentials({ ...creds, joinCode });
            }),
          )}
      >
        New join code
      </button>
      <button class="danger" disabled=${ended} onClick=${() => act(api.end(creds.token, creds.meetingId))}>
        End meeting
      </button>
    </div>
  </div>`;
}

export function clock(ms: number): string {
  return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}
