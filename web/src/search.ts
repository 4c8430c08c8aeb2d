/**
 * Search (issue #11): whether the search box is open, the message a result jumped to, and the
 * pure helpers the search box uses. The box itself is `ui/Search.tsx`; the "In context" side
 * panel, for a result outside the room's loaded history, is `ui/ContextPanel.tsx`.
 */
import { create } from "zustand";
import { selectRoom } from "./chat";
import { useChat } from "./store";
import { openThread } from "./threads";

export type SearchTarget = { roomId: string; messageId: string; at: number };

type SearchState = {
  open: boolean;
  /** The message a result jumped to: its room scrolls to it and highlights it. */
  target: SearchTarget | null;
  /** A result outside the room's loaded history: the side panel shows a window around it. */
  context: SearchTarget | null;
};

export const useSearch = create<SearchState>(() => ({ open: false, target: null, context: null }));

export function closeContext(): void {
  useSearch.setState({ context: null });
}

export function openSearch(): void {
  useSearch.setState({ open: true });
}

export function closeSearch(): void {
  useSearch.setState({ open: false });
}

/** Cuts `body` into plain and highlighted parts; `spans` are [start, end) in code points. */
export function highlightParts(body: string, spans: [number, number][]): { text: string; hit: boolean }[] {
  const chars = Array.from(body);
  const parts: { text: string; hit: boolean }[] = [];
  let at = 0;
  for (const [start, end] of spans) {
    const s = Math.max(at, Math.min(start, chars.length));
    const e = Math.max(s, Math.min(end, chars.length));
    if (s > at) parts.push({ text: chars.slice(at, s).join(""), hit: false });
    if (e > s) parts.push({ text: chars.slice(s, e).join(""), hit: true });
    at = e;
  }
  if (at < chars.length) parts.push({ text: chars.slice(at).join(""), hit: false });
  return parts;
}

/** Resolves when `ready()` holds for the chat state (checked now and on every change). */
function until(ready: () => boolean, ms = 15_000): Promise<boolean> {
  return new Promise((resolve) => {
    if (ready()) return resolve(true);
    const timer = setTimeout(() => {
      stop();
      resolve(false);
    }, ms);
    const stop = useChat.subscribe(() => {
      if (ready()) {
        clearTimeout(timer);
        stop();
        resolve(true);
      }
    });
  });
}

/**
 * Opens the room at the message. A message the room has loaded is scrolled to and highlighted
 * in place; any other opens the "In context" panel, which loads a window around it (one request,
 * however far back it is) while the room stays live. A thread reply opens its thread.
 */
export async function jumpTo(roomId: string, messageId: string, threadId?: string | null): Promise<void> {
  useSearch.setState({ open: false, target: null, context: null });
  await selectRoom(roomId);
  if (threadId) {
    await openThread(roomId, threadId);
    return;
  }
  const view = () => useChat.getState().views[roomId];
  if (!(await until(() => !!view()?.loaded))) return;
  if (view()?.messages[messageId]) {
    useSearch.setState({ target: { roomId, messageId, at: Date.now() } });
    return;
  }
  // The context panel takes the side from a thread or the pins.
  useChat.setState({ thread: null, pinsOpen: false });
  useSearch.setState({ context: { roomId, messageId, at: Date.now() } });
}
