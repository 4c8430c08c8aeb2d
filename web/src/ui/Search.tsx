/**
 * The search box (issue #11): Ctrl/Cmd-K (or the header's search button, on the phone too)
 * opens it; results show the room, the author, the time and the matched words; a click opens
 * the room at the message, highlighted.
 */
import { useEffect, useRef, useState } from "react";
import { ApiError } from "../api";
import { api, describe } from "../chat";
import { displayName, roomTitle } from "../names";
import type { SearchHit } from "../protocol";
import { closeSearch, highlightParts, jumpTo, openSearch, useSearch } from "../search";
import { useChat } from "../store";
import { exactTime, relativeTime } from "../time";
import { Dialog } from "./Dialog";

/** Mounted once: the shortcut, and the box when open. */
export function SearchHost() {
  const open = useSearch((s) => s.open);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if ((e.ctrlKey || e.metaKey) && !e.altKey && e.key.toLowerCase() === "k") {
        e.preventDefault();
        if (useSearch.getState().open) closeSearch();
        else openSearch();
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);
  return open ? <SearchDialog /> : null;
}

const DEBOUNCE_MS = 250;

type Found = { hits: SearchHit[]; next: string | null; query: string };

function SearchDialog() {
  const [query, setQuery] = useState("");
  const [found, setFound] = useState<Found | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const asked = useRef(0);

  useEffect(() => {
    const q = query;
    if (!q.trim()) {
      setFound(null);
      setError(null);
      return;
    }
    const ticket = ++asked.current;
    const timer = setTimeout(async () => {
      setBusy(true);
      try {
        const page = await api.search(q);
        if (ticket !== asked.current) return;
        setFound({ hits: page.results, next: page.next_before, query: q });
        setError(null);
      } catch (err) {
        if (ticket !== asked.current) return;
        setFound(null);
        setError(err instanceof ApiError && err.code === "invalid_query" ? err.message : describe(err));
      } finally {
        if (ticket === asked.current) setBusy(false);
      }
    }, DEBOUNCE_MS);
    return () => clearTimeout(timer);
  }, [query]);

  async function more() {
    if (!found?.next) return;
    const ticket = asked.current;
    setBusy(true);
    try {
      const page = await api.search(found.query, { before: found.next });
      if (ticket !== asked.current) return;
      setFound({ hits: [...found.hits, ...page.results], next: page.next_before, query: found.query });
    } catch (err) {
      setError(describe(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Dialog title="Search messages" onClose={closeSearch} wide>
      <input
        className="search-input"
        type="search"
        autoFocus
        aria-label="Search messages"
        data-testid="search-input"
        placeholder='Words, "a phrase", from:name, in:room, has:link, before:2026-01-31'
        value={query}
        maxLength={500}
        onChange={(e) => setQuery(e.target.value)}
      />
      <div className="search-status muted" role="status" aria-live="polite">
        {error ? (
          <span className="search-error" data-testid="search-error">
            {error}
          </span>
        ) : found ? (
          found.hits.length === 0 ? (
            "No messages found."
          ) : (
            `${found.hits.length}${found.next ? "+" : ""} found`
          )
        ) : busy ? (
          "Searching…"
        ) : (
          ""
        )}
      </div>
      {found && found.hits.length > 0 && (
        <ul className="search-results" data-testid="search-results">
          {found.hits.map((hit) => (
            <li key={hit.message.id}>
              <Result hit={hit} />
            </li>
          ))}
        </ul>
      )}
      {found?.next && (
        <button className="btn ghost small search-more" onClick={() => void more()} disabled={busy}>
          Older results
        </button>
      )}
    </Dialog>
  );
}

function Result({ hit }: { hit: SearchHit }) {
  const m = hit.message;
  const room = useChat((s) => s.rooms[m.room_id]);
  const me = useChat((s) => s.me);
  const where = room ? (room.kind === "direct" ? roomTitle(room, me) : `#${room.name}`) : "a room";
  return (
    <button className="search-result" data-testid="search-result" onClick={() => void jumpTo(m.room_id, m.id, m.thread_id)}>
      <span className="search-result-head">
        <span className="search-room">{where}</span>
        <span className="search-author">{displayName(m.author)}</span>
        <time className="muted" dateTime={m.created_at} title={exactTime(m.created_at)}>
          {relativeTime(m.created_at, Date.now())}
        </time>
      </span>
      <span className="search-body">
        {highlightParts(m.body, hit.highlights as [number, number][]).map((part, i) =>
          part.hit ? <mark key={i}>{part.text}</mark> : <span key={i}>{part.text}</span>,
        )}
      </span>
    </button>
  );
}
