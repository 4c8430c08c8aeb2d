/*
 * Palaver's service worker: Web Push only (no caching). A push carries JSON about one message
 * (a mention, or any message in a room set to "all"); it becomes a notification unless a Palaver
 * tab is visible (that tab shows its own). A click focuses a Palaver tab on the room, or opens one.
 */

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

/** Reads the push payload, tolerating the shapes a server may send ({title, body, room_id} or {room_id, message}). */
function readPush(event) {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = { body: event.data ? event.data.text() : "" };
  }
  const message = data.message || {};
  const author = message.author || {};
  const who = author.display_name || author.username;
  const roomId = data.room_id || message.room_id || null;
  const title = data.title || (who ? `${who} mentioned you` : "Palaver");
  const body = String(data.body || message.body || "New message").slice(0, 200);
  return { title, body, roomId, tag: data.tag || message.id || roomId || "palaver" };
}

self.addEventListener("push", (event) => {
  const push = readPush(event);
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((clients) => {
      if (clients.some((c) => c.visibilityState === "visible" && c.focused)) return undefined;
      return self.registration.showNotification(push.title, {
        body: push.body,
        tag: push.tag,
        icon: "/favicon.svg",
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
