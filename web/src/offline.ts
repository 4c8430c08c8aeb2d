/**
 * The app offline (#15): the service worker (public/sw.js) keeps the app shell and the person's
 * last view of their rooms, so the page opens with no network and shows their outbox; the
 * outbox goes out when the server is back. This registers it, and forgets the kept data of a
 * person who signs out (another may sign in on this browser).
 */

/** The Cache Storage names public/sw.js keeps the person's data in (not the shell). */
const API_CACHE = "palaver-api-v1";

/**
 * Register the worker. `onFirstControl` runs when it first takes control of this page: what the
 * page loaded before went past it, so the caller fetches it again for the worker to keep.
 */
export function registerServiceWorker(onFirstControl: () => void): void {
  // Not under `npm run dev`: a cached shell would hide the dev server's live reloads.
  if (!import.meta.env.PROD || typeof navigator === "undefined" || !("serviceWorker" in navigator)) return;
  if (!navigator.serviceWorker.controller) {
    navigator.serviceWorker.addEventListener("controllerchange", () => onFirstControl(), { once: true });
  }
  const register = () => navigator.serviceWorker.register("/sw.js").catch(() => undefined);
  if (document.readyState === "complete") void register();
  else window.addEventListener("load", () => void register(), { once: true });
}

/** Whether the service worker handles this page's requests (and so keeps copies of them). */
export function isControlled(): boolean {
  return typeof navigator !== "undefined" && "serviceWorker" in navigator && navigator.serviceWorker.controller !== null;
}

/** Drop what the service worker kept of the signed-out person's rooms and messages. */
export function forgetOfflineData(): void {
  if (typeof caches === "undefined") return;
  void caches.delete(API_CACHE).catch(() => undefined);
}
