import { Store } from './store';

export interface Session {
  access_token: string;
  refresh_token: string;
  username: string;
}

export interface FieldError {
  field: string;
  reason: string;
}

// An RFC 9457 problem answer; `fields` maps a field name to its reason.
export class ApiError extends Error {
  constructor(
    public status: number,
    public title: string,
    public detail: string,
    public fields: Record<string, string>,
  ) {
    super(detail || title || `HTTP ${status}`);
  }
}

const storageKey = 'carillon.session';

function loadSession(): Session | null {
  try {
    const raw = localStorage.getItem(storageKey);
    return raw ? (JSON.parse(raw) as Session) : null;
  } catch {
    return null;
  }
}

export const session = new Store<Session | null>(loadSession());
// True while a request waits for the user to sign in again (the login dialog is shown).
export const reloginNeeded = new Store<boolean>(false);
let reloginWaiters: Array<() => void> = [];

// Another tab signed in, refreshed or signed out: use its session here too.
window.addEventListener('storage', (e) => {
  if (e.key === storageKey) session.set(loadSession());
});

function saveSession(s: Session | null): void {
  if (s) localStorage.setItem(storageKey, JSON.stringify(s));
  else localStorage.removeItem(storageKey);
  session.set(s);
}

async function problemOf(response: Response): Promise<ApiError> {
  let body: { title?: string; detail?: string; errors?: FieldError[] } = {};
  try {
    body = await response.json();
  } catch {
    /* not JSON: status text only */
  }
  const fields: Record<string, string> = {};
  for (const e of body.errors ?? []) if (e.field) fields[e.field] = e.reason;
  return new ApiError(response.status, body.title ?? response.statusText, body.detail ?? '', fields);
}

export async function login(username: string, password: string): Promise<void> {
  const r = await fetch('/api/v1/auth/login', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  if (!r.ok) throw await problemOf(r);
  const body = await r.json();
  saveSession({ access_token: body.access_token, refresh_token: body.refresh_token, username });
  reloginNeeded.set(false);
  const waiters = reloginWaiters;
  reloginWaiters = [];
  for (const w of waiters) w();
}

export async function logout(): Promise<void> {
  const s = session.value;
  saveSession(null);
  if (s) {
    await fetch('/api/v1/auth/logout', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ refresh_token: s.refresh_token }),
    }).catch(() => undefined);
  }
}

let refreshing: Promise<boolean> | null = null;

async function refresh(): Promise<boolean> {
  const s = session.value;
  if (!s) return false;
  refreshing ??= (async () => {
    try {
      const r = await fetch('/api/v1/auth/refresh', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ refresh_token: s.refresh_token }),
      });
      if (!r.ok) return false;
      const body = await r.json();
      saveSession({ ...s, access_token: body.access_token, refresh_token: body.refresh_token ?? s.refresh_token });
      return true;
    } catch {
      return false;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

// Waits until the user has signed in again in the dialog; the page below keeps its state.
function waitForRelogin(): Promise<void> {
  reloginNeeded.set(true);
  return new Promise((resolve) => reloginWaiters.push(resolve));
}

// Sends a request with the access token; on 401 refreshes once, then asks the user to sign in
// again and repeats the request, so a form's input survives an expired session.
export async function request(method: string, path: string, body?: unknown, accept = 'application/json'): Promise<Response> {
  for (let attempt = 0; ; attempt++) {
    const s = session.value;
    const headers: Record<string, string> = { Accept: accept };
    if (s) headers.Authorization = `Bearer ${s.access_token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    if (r.status !== 401 || attempt > 3) {
      if (!r.ok) throw await problemOf(r);
      return r;
    }
    if (!(await refresh())) await waitForRelogin();
  }
}

export async function api<T = any>(method: string, path: string, body?: unknown): Promise<T> {
  const r = await request(method, path, body);
  if (r.status === 204) return undefined as T;
  return (await r.json()) as T;
}

// Every page of a list endpoint ({items, next}).
export async function listAll<T = any>(path: string): Promise<T[]> {
  const items: T[] = [];
  let after = '';
  for (let i = 0; i < 50; i++) {
    const sep = path.includes('?') ? '&' : '?';
    const page = await api<{ items: T[]; next: string | null }>(
      'GET',
      `${path}${sep}limit=200${after ? `&after=${encodeURIComponent(after)}` : ''}`,
    );
    items.push(...page.items);
    if (!page.next) break;
    after = page.next;
  }
  return items;
}

// A protected image (snapshots) as an object URL for <img>.
export async function blobUrl(path: string): Promise<string> {
  const r = await request('GET', path, undefined, 'image/*');
  return URL.createObjectURL(await r.blob());
}

// Sends a file as the raw request body (firmware images, logos) and reports the upload's
// progress (0..1); refreshes the token once on 401 like request().
export async function upload<T = any>(
  method: string,
  path: string,
  body: Blob,
  onProgress?: (fraction: number) => void,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    const s = session.value;
    const r = await new Promise<Response>((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open(method, path);
      xhr.setRequestHeader('Accept', 'application/json');
      xhr.setRequestHeader('Content-Type', body.type && !body.type.startsWith('application/') ? body.type : 'application/octet-stream');
      if (s) xhr.setRequestHeader('Authorization', `Bearer ${s.access_token}`);
      xhr.upload.onprogress = (e) => e.lengthComputable && onProgress?.(e.loaded / e.total);
      xhr.onload = () => {
        const headers = new Headers();
        const type = xhr.getResponseHeader('Content-Type');
        if (type) headers.set('Content-Type', type);
        resolve(new Response(xhr.status === 204 ? null : xhr.responseText, { status: xhr.status, headers }));
      };
      xhr.onerror = () => reject(new Error(`${method} ${path}: network error`));
      xhr.send(body);
    });
    if (r.status !== 401 || attempt > 3) {
      if (!r.ok) throw await problemOf(r);
      if (r.status === 204) return undefined as T;
      return (await r.json()) as T;
    }
    if (!(await refresh())) await waitForRelogin();
  }
}
