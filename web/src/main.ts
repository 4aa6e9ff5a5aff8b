/**
 * The meetstream web app: lobby, join, room and summary, routed by the URL fragment so the page is
 * one static file and what identifies a meeting (and its join code) never reaches a server log.
 *
 *   #/                          lobby: create a meeting
 *   #/join/{meetingId}/{code}   join with a display name
 *   #/m/{meetingId}[?transport] the room (credentials from this tab's sessionStorage)
 *   #/m/{meetingId}/summary     the report
 */
import { html } from 'htm/preact';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { joinMeeting } from '@meetstream/client';
import { API_BASE, api, loadCredentials, saveCredentials, type Credentials } from './api';
import { Room } from './room';
import { parseRoute, type Route } from './route';
import { SummaryPage } from './summary';

function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', onChange);
    return () => removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

function App() {
  const route = useRoute();
  if (route.page === 'join') return html`<${JoinPage} meetingId=${route.meetingId} code=${route.code} />`;
  if (route.page === 'lobby') return html`<${Lobby} />`;
  const creds = loadCredentials(route.meetingId);
  if (!creds)
    return html`<main class="page">
      <h1>Not in this meeting</h1>
      <p>Open the join link the host shared with you to take part.</p>
      <p><a href="#/">Back to the lobby</a></p>
    </main>`;
  if (route.page === 'summary') return html`<${SummaryPage} creds=${creds} />`;
  return html`<${Room} key=${creds.meetingId} creds=${creds} />`;
}

function Lobby() {
  const [title, setTitle] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const create = async () => {
    setBusy(true);
    setError(undefined);
    try {
      const created = await api.create(title.trim());
      const creds: Credentials = {
        meetingId: created.meeting.id,
        participantId: created.host.id,
        token: created.hostToken,
        joinCode: created.joinCode,
      };
      saveCredentials(creds);
      location.hash = `#/m/${encodeURIComponent(creds.meetingId)}`;
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
      setBusy(false);
    }
  };
  return html`<main class="page lobby">
    <h1>meetstream</h1>
    <p>Live meeting data on Azure: chat, reactions, hands, captions, polls and live analytics, in order.</p>
    <form
      onSubmit=${(ev: Event) => {
        ev.preventDefault();
        void create();
      }}
    >
      <label
        >Meeting title
        <input
          name="title"
          value=${title}
          maxlength="200"
          required
          onInput=${(ev: Event) => setTitle((ev.target as HTMLInputElement).value)}
        />
      </label>
      <button disabled=${busy || !title.trim()}>Create meeting</button>
    </form>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    <p class="muted">You host the meetings you create; share the join link from the room.</p>
  </main>`;
}

function JoinPage({ meetingId, code }: { meetingId: string; code: string }) {
  const [name, setName] = useState('');
  const [error, setError] = useState<string>();
  const existing = loadCredentials(meetingId);
  const join = async () => {
    setError(undefined);
    try {
      const joined = await joinMeeting({
        baseUrl: API_BASE,
        meetingId,
        displayName: name.trim(),
        joinCode: code,
      });
      saveCredentials({ meetingId, participantId: joined.participant.id, token: joined.token });
      // Drop the code from the address bar and history once it has been used.
      history.replaceState(null, '', `#/m/${encodeURIComponent(meetingId)}`);
      dispatchEvent(new HashChangeEvent('hashchange'));
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };
  return html`<main class="page lobby">
    <h1>Join the meeting</h1>
    ${existing && html`<p><a href=${`#/m/${encodeURIComponent(meetingId)}`}>You are already in it: back to the room</a></p>`}
    <form
      onSubmit=${(ev: Event) => {
        ev.preventDefault();
        void join();
      }}
    >
      <label
        >Your name
        <input
          name="displayName"
          value=${name}
          maxlength="80"
          required
          autocomplete="name"
          onInput=${(ev: Event) => setName((ev.target as HTMLInputElement).value)}
        />
      </label>
      <button disabled=${!name.trim()}>Join</button>
    </form>
    ${error && html`<p class="error" role="alert">${error}</p>`}
  </main>`;
}

const root = document.getElementById('app');
if (root) render(html`<${App} />`, root);
