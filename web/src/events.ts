import { api, session } from './api';
import { Store } from './store';

export interface LiveEvent {
  type: string;
  company_id?: string;
  data: Record<string, any>;
}

type Listener = (e: LiveEvent) => void;
const listeners = new Set<Listener>();
export const eventsConnected = new Store<boolean>(false);

let socket: WebSocket | null = null;
let token = '';
let retry: ReturnType<typeof setTimeout> | undefined;
let backoff = 500;

function connect(): void {
  const s = session.value;
  clearTimeout(retry);
  if (socket) {
    socket.onclose = null;
    socket.close();
    socket = null;
  }
  eventsConnected.set(false);
  if (!s) return;
  token = s.access_token;
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/v1/events?access_token=${encodeURIComponent(token)}`;
  const ws = new WebSocket(url);
  socket = ws;
  ws.onmessage = (m) => {
    let e: LiveEvent;
    try {
      e = JSON.parse(String(m.data));
    } catch {
      return;
    }
    if (e.type === 'hello') {
      backoff = 500;
      eventsConnected.set(true);
    }
    for (const l of [...listeners]) l(e);
  };
  ws.onclose = () => {
    eventsConnected.set(false);
    socket = null;
    // A refused upgrade is usually an expired token: any API call refreshes it first.
    retry = setTimeout(() => {
      api('GET', '/api/v1/me')
        .catch(() => undefined)
        .finally(() => {
          if (!socket) connect();
        });
    }, backoff);
    backoff = Math.min(backoff * 2, 10000);
  };
}

// A new access token (refresh or login) opens a new socket with it.
session.subscribe((s) => {
  if (!s || s.access_token !== token) connect();
});

export function onEvent(listener: Listener): () => void {
  if (!socket && session.value) connect();
  listeners.add(listener);
  return () => listeners.delete(listener);
}
