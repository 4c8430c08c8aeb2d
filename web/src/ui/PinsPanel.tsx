/** The pinned messages of a room (header button → this panel); a click jumps to the message. */
import { useEffect, useState } from "react";
import { describe } from "../chat";
import { displayName } from "../names";
import { extras, type Message } from "../protocol";
import { useChat } from "../store";
import { fetchPins, jumpTo, setPinned, setPinsOpen } from "../threads";
import { relativeTime } from "../time";
import { CloseIcon } from "./icons";
import { MessageText } from "./MessageExtras";
import { useNow } from "./useNow";

export function PinsPanel({ roomId, canPin }: { roomId: string; canPin: boolean }) {
  const [pins, setPins] = useState<Message[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const now = useNow(30_000);
  // Refetch when a pin event changes any loaded message's pinned state.
  const pinnedKey = useChat((s) =>
    Object.values(s.views[roomId]?.messages ?? {})
      .filter((m) => extras(m).pinned)
      .map((m) => m.id)
      .join(","),
  );

  useEffect(() => {
    let live = true;
    fetchPins(roomId).then(
      (list) => live && setPins(list),
      (err) => live && setError(describe(err)),
    );
    return () => {
      live = false;
    };
  }, [roomId, pinnedKey]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape" && !e.defaultPrevented && !document.querySelector("dialog[open]")) setPinsOpen(false);
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, []);

  return (
    <aside className="thread-panel pins-panel" aria-label="Pinned messages" data-testid="pins-panel">
      <div className="panel-head">
        <h2>Pinned</h2>
        <button className="icon-btn" aria-label="Close pinned messages" onClick={() => setPinsOpen(false)}>
          <CloseIcon />
        </button>
      </div>
      <div className="thread-scroll">
        {error && <p className="form-error">{error}</p>}
        {pins === null && !error && <p className="muted small pad">Loading…</p>}
        {pins?.length === 0 && <p className="muted small pad">Nothing pinned yet. Pin a message from its toolbar to keep it here.</p>}
        <ul className="pin-list">
          {pins?.map((m) => (
            <li key={m.id} data-testid="pin">
              <div className="pin-meta">
                <strong>{displayName(m.author)}</strong>
                <span className="muted small">{relativeTime(m.created_at, now)}</span>
                <span className="grow" />
                <button className="btn ghost small" onClick={() => void jumpTo(roomId, m.id)}>
                  Jump
                </button>
                {canPin && (
                  <button className="btn ghost small" onClick={() => void setPinned(roomId, m.id, false)}>
                    Unpin
                  </button>
                )}
              </div>
              <MessageText body={m.body} />
            </li>
          ))}
        </ul>
      </div>
    </aside>
  );
}
