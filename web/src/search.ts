/**
 * Search (issue #11): whether the search box is open, the message a result jumped to, and the
 * pure helpers the search box uses. The box itself is `ui/Search.tsx`.
 */
import { create } from "zustand";
import { loadOlder, selectRoom, toast } from "./chat";
import { useChat } from "./store";

export type SearchTarget = { roomId: string; messageId: string; at: number };

type SearchState = {
  open: boolean;
  /** The message a result jumped to: its room scrolls to it and highlights it. */
  target: SearchTarget | null;
};

export const useSearch = create<SearchState>(() => ({ open: false, target: null }));

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

/** Opens the room at the message: its history is loaded back to the message, which the list
 * then scrolls to and highlights. */
export async function jumpTo(roomId: string, messageId: string): Promise<void> {
  useSearch.setState({ open: false, target: { roomId, messageId, at: Date.now() } });
  await selectRoom(roomId);
  const view = () => useChat.getState().views[roomId];
  if (!(await until(() => !!view()?.loaded))) return;
  // Page back until the message is loaded, the room has nothing older, or a page brings
  // nothing new (a failed load says why in a toast of its own).
  for (;;) {
    const v = view();
    if (!v || v.messages[messageId]) return;
    if (!v.hasMore) {
      toast("That message is no longer in the room.");
      return;
    }
    const had = Object.keys(v.messages).length;
    await loadOlder(roomId);
    await until(() => !view()?.loadingOlder);
    if (Object.keys(view()?.messages ?? {}).length === had) return;
  }
}
