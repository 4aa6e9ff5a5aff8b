/** The app's pages, from the URL fragment (see main.ts). */
export type Route =
  | { page: 'lobby' }
  | { page: 'join'; meetingId: string; code: string }
  | { page: 'room'; meetingId: string }
  | { page: 'summary'; meetingId: string };

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, '').split('?')[0] ?? '';
  let parts: string[];
  try {
    parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    return { page: 'lobby' }; // a malformed escape: nothing to route to
  }
  if (parts[0] === 'join' && parts[1] && parts[2])
    return { page: 'join', meetingId: parts[1], code: parts[2] };
  if (parts[0] === 'm' && parts[1] && parts[2] === 'summary') return { page: 'summary', meetingId: parts[1] };
  if (parts[0] === 'm' && parts[1]) return { page: 'room', meetingId: parts[1] };
  return { page: 'lobby' };
}
