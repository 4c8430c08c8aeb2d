/*
 * Palaver's service worker: the app shell offline (#15) and Web Push.
 *
 * Offline: the page opens with no network. The shell is cached — hashed files under /assets/
 * cache-first (their names change with their content, so a cached one is never stale), the page
 * itself and the other public files network-first (a new build shows as soon as the server can
 * be reached; the cached copy only when it can't). The person's last view of their rooms (GET
 * /api/me, /api/rooms, a room's newest messages…) is kept the same way, network-first, so the
 * screen offline shows the rooms as last loaded (live events since then are not in the copy) plus
 * the outbox, and the app resumes from there when the server is back: the server stays the truth
 * whenever it can be reached. Nothing else of
 * /api is cached (events, search, files, admin), and nothing that isn't a GET. Signing out
 * empties the API cache (the page deletes it: see `forgetOfflineData` in web/src/offline.ts).
 *
 * Push: a push carries JSON about one message (a mention, or any message in a room set to "all");
 * it becomes a notification unless a Palaver tab is visible (that tab shows its own). A click
 * focuses a Palaver tab on the room, or opens one.
 */

const SHELL = "palaver-shell-v1";
const API = "palaver-api-v1";

self.addEventListener("install", (event) => {
  event.waitUntil(refreshShell().catch(() => undefined).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((n) => n.startsWith("palaver-") && n !== SHELL && n !== API).map((n) => caches.delete(n))))
      .then(() => self.clients.claim()),
  );
});

/**
 * Fetch the page and every file it needs into the shell cache. When the page is a new build, the
 * hashed files of the old one are dropped.
 */
async function refreshShell(page) {
  const response = page || (await fetch("/", { cache: "no-store" }));
  if (!response.ok) return;
  const html = await response.clone().text();
  const cache = await caches.open(SHELL);
  const old = await cache.match("/");
  const newBuild = !old || (await old.text()) !== html;
  await cache.put("/", response.clone());
  const named = new Set();
  for (const match of html.matchAll(/(?:src|href)="(\/[^"]+)"/g)) named.add(match[1]);
  if (newBuild) {
    for (const request of await cache.keys()) {
      const path = new URL(request.url).pathname;
      if (path.startsWith("/assets/")) await cache.delete(request);
    }
  }
  // The files the page names, then the ones its scripts load later (the formatter, the emoji
  // picker): they are named inside the scripts as "assets/….js".
  const scripts = await Promise.all([...named].map((path) => keep(cache, path)));
  const later = new Set();
  for (const text of scripts) {
    for (const match of (text || "").matchAll(/assets\/[\w.-]+\.(?:js|css)/g)) later.add(`/${match[0]}`);
  }
  await Promise.all([...later].filter((path) => !named.has(path)).map((path) => keep(cache, path)));
}

/** Cache `path` unless cached; answers a script's text (to find what it loads), else null. */
async function keep(cache, path) {
  let response = await cache.match(path);
  if (!response) {
    response = await fetch(path);
    if (!response.ok) return null;
    await cache.put(path, response.clone());
  }
  return path.endsWith(".js") ? response.text() : null;
}

/** The GETs of /api whose last answer is worth showing offline. */
function offlineApi(path) {
  return (
    path === "/api/me" ||
    path === "/api/config" ||
    path === "/api/me/unread" ||
    path === "/api/me/notifications" ||
    path === "/api/rooms" ||
    /^\/api\/rooms\/[^/]+(\/(messages|members|pins))?$/.test(path) ||
    /^\/api\/users\/[^/]+$/.test(path)
  );
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  // "no-store": the page asks the server itself (is it reachable?), never a kept copy.
  if (request.method !== "GET" || request.cache === "no-store") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  const path = url.pathname;
  if (request.mode === "navigate") {
    event.respondWith(page(request));
  } else if (path.startsWith("/assets/")) {
    event.respondWith(cacheFirst(event));
  } else if (path.startsWith("/api/")) {
    if (offlineApi(path)) event.respondWith(networkFirst(API, event));
  } else if (path === "/theme.js" || path === "/manifest.webmanifest" || path.startsWith("/icons/")) {
    event.respondWith(networkFirst(SHELL, event));
  }
});

/** The page: from the network (and the shell refreshed from it), else the cached one. */
async function page(request) {
  try {
    const response = await fetch(request);
    if (response.ok && (response.headers.get("content-type") || "").includes("text/html")) {
      const copy = response.clone();
      // The same page for every path of the app (client-side routes): cache it as "/".
      refreshShell(copy).catch(() => undefined);
    }
    return response;
  } catch (err) {
    const cached = await caches.match("/", { cacheName: SHELL });
    if (cached) return cached;
    throw err;
  }
}

async function cacheFirst(event) {
  const request = event.request;
  const cache = await caches.open(SHELL);
  const cached = await cache.match(request);
  if (cached) return cached;
  const response = await fetch(request);
  if (response.ok) event.waitUntil(cache.put(request, response.clone()));
  return response;
}

/**
 * The network's answer, handed on at once and kept meanwhile (so answers are not slowed or
 * reordered by the keeping); the kept one only when the network fails.
 */
async function networkFirst(cacheName, event) {
  const request = event.request;
  let response;
  try {
    response = await fetch(request);
  } catch (err) {
    const cached = await caches.match(request, { cacheName });
    if (cached) return cached;
    throw err;
  }
  if (response.ok) {
    const copy = response.clone();
    event.waitUntil(caches.open(cacheName).then((cache) => cache.put(request, copy)));
  } else if (response.status === 401 || response.status === 404) {
    event.waitUntil(caches.open(cacheName).then((cache) => cache.delete(request)));
  }
  return response;
}

/**
 * Reads the push payload: `{room_id, room_name, message_id, seq, author, body, mention}` (see
 * PushPayload in docs/protocol.md); anything unreadable still shows a plain notification.
 */
function readPush(event) {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = { body: event.data ? event.data.text() : "" };
  }
  const who = typeof data.author === "string" && data.author ? data.author : "Someone";
  const where = typeof data.room_name === "string" && data.room_name ? ` in ${data.room_name}` : "";
  const title = data.mention ? `${who} mentioned you${where}` : `${who}${where}`;
  const body = String(data.body || "New message").slice(0, 200);
  const roomId = typeof data.room_id === "string" ? data.room_id : null;
  return { title, body, roomId, tag: data.message_id || roomId || "palaver" };
}

self.addEventListener("push", (event) => {
  const push = readPush(event);
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((clients) => {
      if (clients.some((c) => c.visibilityState === "visible" && c.focused)) return undefined;
      return self.registration.showNotification(push.title, {
        body: push.body,
        tag: push.tag,
        icon: "/icons/icon-192.png",
        data: { room_id: push.roomId },
      });
    }),
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const roomId = event.notification.data && event.notification.data.room_id;
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((clients) => {
      const tab = clients.find((c) => new URL(c.url).origin === self.location.origin);
      if (tab) {
        if (roomId) tab.postMessage({ type: "open-room", room_id: roomId });
        return tab.focus();
      }
      return self.clients.openWindow(roomId ? `/?room=${encodeURIComponent(roomId)}` : "/");
    }),
  );
});
