/**
 * The public HTTP API as the page uses it: the same routes and problem+json answers any customer
 * app sees (docs/api.md). Live data comes through the typed client; this is everything else.
 */
import { MeetstreamError, type MeetingSnapshot, type MeetingStatus } from '@meetstream/client';

/**
 * The API the page talks to: its own origin's `/api` (npm start serves both), or the URL in
 * `<meta name="meetstream-api">` when the page is hosted apart from the Function App (a static
 * site; the Function App's CORS setting must then allow the page's origin).
 */
export const API_BASE = apiBase();

function apiBase(): string {
  if (typeof document === 'undefined') return '/api';
  const configured = document.querySelector<HTMLMetaElement>('meta[name="meetstream-api"]')?.content.trim();
  return (configured || `${location.origin}/api`).replace(/\/+$/, '');
}

export interface MeetingInfo {
  id: string;
  title: string;
  status: MeetingStatus;
  [key: string]: unknown;
}

export interface ParticipantInfo {
  id: string;
  displayName: string;
  role: 'host' | 'presenter' | 'attendee';
  status?: string;
}

export interface Created {
  meeting: MeetingInfo;
  joinCode: string;
  host: ParticipantInfo;
  hostToken: string;
  expiresAt: string;
}

export interface MeetingView {
  meeting: MeetingInfo;
  you: ParticipantInfo;
  seq: number;
  state: MeetingSnapshot | null;
}

async function call<T>(
  what: string,
  method: string,
  path: string,
  opts: { token?: string; body?: unknown } = {},
): Promise<T> {
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${API_BASE}${path}`, {
    method,
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  if (!res.ok) throw await MeetstreamError.from(res, what);
  return (res.status === 204 ? undefined : await res.json()) as T;
}

const m = (meetingId: string) => `/meetings/${encodeURIComponent(meetingId)}`;

export const api = {
  create: (title: string) => call<Created>('create meeting', 'POST', '/meetings', { body: { title } }),
  meeting: (token: string, meetingId: string) => call<MeetingView>('meeting', 'GET', m(meetingId), { token }),
  send: (token: string, meetingId: string, type: string, data: unknown) =>
    call<{ accepted: Array<{ id: string }> }>(type, 'POST', `${m(meetingId)}/events`, {
      token,
      body: { type, data },
    }),
  setRole: (token: string, meetingId: string, participantId: string, role: 'presenter' | 'attendee') =>
    call('change role', 'PUT', `${m(meetingId)}/participants/${encodeURIComponent(participantId)}/role`, {
      token,
      body: { role },
    }),
  remove: (token: string, meetingId: string, participantId: string) =>
    call('remove', 'DELETE', `${m(meetingId)}/participants/${encodeURIComponent(participantId)}`, { token }),
  rotateCode: (token: string, meetingId: string) =>
    call<{ joinCode: string }>('rotate join code', 'POST', `${m(meetingId)}/join-code`, { token }),
  end: (token: string, meetingId: string) => call('end meeting', 'POST', `${m(meetingId)}/end`, { token }),
  leave: (token: string, meetingId: string) => call('leave', 'POST', `${m(meetingId)}/leave`, { token }),
  summary: (token: string, meetingId: string) =>
    call<{ summary: Summary; final: boolean }>('summary', 'GET', `${m(meetingId)}/summary`, { token }),
  /** One summary chart as an object URL (an <img> cannot send the bearer token). */
  async chart(token: string, meetingId: string, chart: 'talkTime' | 'timeline' | 'polls'): Promise<string> {
    const res = await fetch(`${API_BASE}${m(meetingId)}/summary?format=svg&chart=${chart}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    if (!res.ok) throw await MeetstreamError.from(res, 'summary chart');
    return URL.createObjectURL(await res.blob());
  },
};

/** The parts of the summary the page shows (the full shape: docs/api.md, the OpenAPI document). */
export interface Summary {
  title: string;
  status: MeetingStatus;
  final: boolean;
  durationMs: number;
  attendance: { peak: number; total: number; present: number };
  talkTime: {
    totalMs: number;
    gini: number;
    participants: Array<{ participantId: string; displayName: string; totalMs: number; share: number }>;
  };
  chat: { messages: number };
  reactions: { total: number; byEmoji: Array<{ emoji: string; count: number }> };
  polls: Array<{ pollId: string; question: string; options: string[]; tallies: number[]; status: string }>;
  keywords: Array<{ word: string; count: number }>;
  events: { accepted: number; system: number; rejected: number };
}

/** What the page keeps per meeting in this tab (sessionStorage: gone with the tab, never in a URL). */
export interface Credentials {
  meetingId: string;
  participantId: string;
  token: string;
  /** Hosts only: to show the join link and QR code. */
  joinCode?: string;
}

const key = (meetingId: string) => `meetstream:${meetingId}`;

export function saveCredentials(c: Credentials): void {
  sessionStorage.setItem(key(c.meetingId), JSON.stringify(c));
}

export function loadCredentials(meetingId: string): Credentials | undefined {
  const raw = sessionStorage.getItem(key(meetingId));
  if (!raw) return undefined;
  try {
    const c = JSON.parse(raw) as Credentials;
    return c.meetingId === meetingId && typeof c.token === 'string' ? c : undefined;
  } catch {
    return undefined;
  }
}

export function joinLink(meetingId: string, joinCode: string): string {
  // The code travels in the fragment: browsers never send it, so no server or proxy logs it.
  return `${location.origin}/#/join/${encodeURIComponent(meetingId)}/${encodeURIComponent(joinCode)}`;
}
