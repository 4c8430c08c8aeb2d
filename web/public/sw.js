/*
 * Palaver's service worker: Web Push only (no caching). A push carries JSON about one message
 * (a mention, or any message in a room set to "all"); it becomes a notification unless a Palaver
 * tab is visible (that tab shows its own). A click focuses a Palaver tab on the room, or opens one.
 */

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

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
