// DigitLab's service worker: after the first visit, the page works offline.
//
// On install it caches every file of the build, as listed by web/precache.mjs (run by Trunk
// after each build into precache.json: the hashed wasm and JavaScript, the stylesheet, every
// card and weights file, the held-out digits, the benchmark lines). Requests then go to the
// network first, so an online visit always gets the newest build and weights, and the cache
// answers when the network does not (offline, or the server gone). A new build's install
// replaces the cache; the old one is deleted when the new worker takes over.
//
// JavaScript because a service worker is a JavaScript worker: it holds no model code and
// computes nothing; it only stores and returns the page's own files.

const PREFIX = 'digitlab-';

async function manifest() {
  const res = await fetch('precache.json', { cache: 'no-store' });
  if (!res.ok) throw new Error(`precache.json: HTTP ${res.status}`);
  return res.json();
}

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const { version, files } = await manifest();
    const cache = await caches.open(PREFIX + version);
    await cache.addAll(['./', ...files]);
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    const { version } = await manifest().catch(() => ({ version: null }));
    if (version !== null) {
      for (const name of await caches.keys()) {
        if (name.startsWith(PREFIX) && name !== PREFIX + version) await caches.delete(name);
      }
    }
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET' || new URL(req.url).origin !== self.location.origin) return;
  event.respondWith((async () => {
    try {
      return await fetch(req);
    } catch (offline) {
      // The page's own query parameters (?backend=cpu, ?bench=1) do not change its files.
      const hit = await caches.match(req, { ignoreSearch: true });
      if (hit) return hit;
      throw offline;
    }
  })());
});
