// The service worker: starts the app offline from the cached app shell and shows Web Push
// notifications for incoming and missed calls. Built to /sw.js by vite.config.ts, which fills in
// the shell's file names and the cache version; the API is never cached.
//
// Typed by hand: the WebWorker lib cannot be combined with the DOM lib the app compiles with.
interface ExtendableEvent extends Event {
  waitUntil(p: Promise<unknown>): void;
}
interface FetchEvent extends ExtendableEvent {
  request: Request;
  respondWith(r: Response | Promise<Response>): void;
}
interface PushEvent extends ExtendableEvent {
  data: { json(): unknown; text(): string } | null;
}
interface NotificationEvent extends ExtendableEvent {
  notification: Notification & { data?: { url?: string } };
}
interface WindowClient {
  url: string;
  focus(): Promise<WindowClient>;
  navigate(url: string): Promise<WindowClient | null>;
}
interface Worker {
  addEventListener(type: 'install' | 'activate', l: (e: ExtendableEvent) => void): void;
  addEventListener(type: 'fetch', l: (e: FetchEvent) => void): void;
  addEventListener(type: 'push', l: (e: PushEvent) => void): void;
  addEventListener(type: 'notificationclick', l: (e: NotificationEvent) => void): void;
  skipWaiting(): Promise<void>;
  location: Location;
  clients: {
    claim(): Promise<void>;
    matchAll(o: { type: 'window'; includeUncontrolled: boolean }): Promise<WindowClient[]>;
    openWindow(url: string): Promise<WindowClient | null>;
  };
  registration: {
    showNotification(title: string, options: NotificationOptions & { image?: string; renotify?: boolean }): Promise<void>;
  };
}
declare const self: Worker;

const shell = '__SHELL__' as unknown as string[];
const cacheName = 'carillon-shell-__VERSION__';
const appUrl = '/?source=pwa#/phone';

self.addEventListener('install', (e) => {
  e.waitUntil(
    caches
      .open(cacheName)
      .then((c) => c.addAll(Array.isArray(shell) ? shell : ['/']))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (e) => {
  e.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith('carillon-shell-') && k !== cacheName).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener('fetch', (e) => {
  const req = e.request;
  const url = new URL(req.url);
  if (req.method !== 'GET' || url.origin !== self.location.origin || url.pathname.startsWith('/api/')) return;
  if (req.mode === 'navigate') {
    // The newest page when online (a new deployment takes effect), the cached shell offline.
    e.respondWith(
      fetch(req)
        .then((r) => {
          if (r.ok) {
            const copy = r.clone();
            caches.open(cacheName).then((c) => c.put('/', copy));
          }
          return r;
        })
        .catch(async () => (await caches.match('/')) ?? Response.error()),
    );
    return;
  }
  // Hashed assets and icons do not change under their name.
  e.respondWith(caches.match(req).then((hit) => hit ?? fetch(req)));
});

export interface CallPush {
  type: 'incoming-call' | 'missed-call';
  caller?: string;
  snapshot_url?: string;
  call_id?: string;
  language?: string;
}

// The page is not running when a push arrives, so the worker carries its own two languages.
const texts = {
  en: { 'incoming-call': 'Incoming call', 'missed-call': 'Missed call', from: 'from {caller}', unknown: 'the door' },
  de: { 'incoming-call': 'Eingehender Anruf', 'missed-call': 'Verpasster Anruf', from: 'von {caller}', unknown: 'der Tür' },
};

self.addEventListener('push', (e) => {
  let payload: CallPush;
  try {
    payload = (e.data?.json() ?? {}) as CallPush;
  } catch {
    return;
  }
  if (payload.type !== 'incoming-call' && payload.type !== 'missed-call') return;
  const lang = (payload.language ?? self.location.search).includes('de') ? 'de' : 'en';
  const tx = texts[lang];
  const caller = payload.caller || tx.unknown;
  e.waitUntil(
    self.registration.showNotification(tx[payload.type], {
      body: tx.from.replace('{caller}', caller),
      icon: '/icons/icon-192.png',
      badge: '/icons/maskable-192.png',
      image: payload.snapshot_url,
      tag: payload.call_id ? `call-${payload.call_id}` : payload.type,
      renotify: true,
      requireInteraction: payload.type === 'incoming-call',
      data: { url: appUrl, ...payload },
    }),
  );
});

self.addEventListener('notificationclick', (e) => {
  e.notification.close();
  const target = e.notification.data?.url ?? appUrl;
  e.waitUntil(
    self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then((list) => {
      const open = list[0];
      if (open) return open.focus().then((c) => c.navigate(new URL(target, self.location.origin).href));
      return self.clients.openWindow(target);
    }),
  );
});
