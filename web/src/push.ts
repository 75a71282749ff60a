import { ApiError, api } from './api';

// Registers the service worker (offline start, push notifications). Not in `vite dev`, which
// serves no /sw.js.
export function registerServiceWorker(): void {
  if (!('serviceWorker' in navigator) || import.meta.env.DEV) return;
  navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch((e) => console.warn('service worker:', e));
}

// unavailable: the platform has no Web Push; no-service: the browser's push service did not answer.
export type PushState = 'unsupported' | 'denied' | 'off' | 'on' | 'unavailable' | 'no-service';

const subscribeTimeoutMs = 20_000;

export async function pushState(): Promise<PushState> {
  if (!('serviceWorker' in navigator) || !('PushManager' in window) || !('Notification' in window)) return 'unsupported';
  if (Notification.permission === 'denied') return 'denied';
  const reg = await navigator.serviceWorker.getRegistration('/');
  const sub = await reg?.pushManager.getSubscription();
  return sub ? 'on' : 'off';
}

function keyBytes(base64url: string): Uint8Array {
  const b64 = base64url.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (base64url.length % 4)) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

// Subscribes this browser at its push service with the platform's VAPID key (RFC 8292) and
// registers the subscription with the platform. 'unavailable': the server has no Web Push.
export async function subscribePush(): Promise<PushState> {
  if ((await pushState()) === 'unsupported') return 'unsupported';
  let key: string;
  try {
    key = (await api<{ public_key: string }>('GET', '/api/v1/push/vapid-public-key')).public_key;
  } catch (e) {
    if (e instanceof ApiError && (e.status === 404 || e.status === 501 || e.status === 503)) return 'unavailable';
    throw e;
  }
  if ((await Notification.requestPermission()) !== 'granted') return 'denied';
  const reg = await navigator.serviceWorker.ready;
  // A browser without a reachable push service (no network to it, headless) never settles.
  const sub = await Promise.race([
    reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) as BufferSource }),
    new Promise<null>((resolve) => setTimeout(() => resolve(null), subscribeTimeoutMs)),
  ]);
  if (!sub) return 'no-service';
  const json = sub.toJSON();
  try {
    const created = await api<{ id: string }>('POST', '/api/v1/push-subscriptions', { endpoint: json.endpoint, keys: json.keys });
    if (created?.id) localStorage.setItem('carillon.push', created.id);
  } catch (e) {
    await sub.unsubscribe();
    if (e instanceof ApiError && (e.status === 404 || e.status === 501 || e.status === 503)) return 'unavailable';
    throw e;
  }
  return 'on';
}

export async function unsubscribePush(): Promise<PushState> {
  const reg = await navigator.serviceWorker.getRegistration('/');
  const sub = await reg?.pushManager.getSubscription();
  await sub?.unsubscribe();
  const id = localStorage.getItem('carillon.push');
  if (id) {
    localStorage.removeItem('carillon.push');
    await api('DELETE', `/api/v1/push-subscriptions/${encodeURIComponent(id)}`).catch(() => undefined);
  }
  return 'off';
}
