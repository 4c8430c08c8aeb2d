import { useEffect, useId, useState, type FormEvent } from "react";
import { ApiError } from "../api";
import { api, describe } from "../chat";
import { displayName } from "../names";
import { openDm } from "../people";
import type { User } from "../protocol";
import { useChat } from "../store";
import { Avatar } from "./Avatar";
import { Dialog } from "./Dialog";
import { CheckIcon, CloseIcon } from "./icons";

/** A direct conversation holds you and at most 7 others. */
export const MAX_DM_OTHERS = 7;

/** "New message": pick up to 7 people (GET /api/users?q=) and open the conversation with them. */
export function NewDmDialog({ onClose }: { onClose: () => void }) {
  const me = useChat((s) => s.me);
  const [query, setQuery] = useState("");
  const [results, setResults] = useState<User[]>([]);
  const [picked, setPicked] = useState<User[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [searching, setSearching] = useState(false);
  const searchId = useId();

  useEffect(() => {
    const q = query.trim().replace(/^@/, "");
    let cancelled = false;
    if (!q) {
      setResults([]);
      return;
    }
    const timer = setTimeout(
      () => {
        setSearching(true);
        api
          .users(q, 20)
          .then((users) => {
            if (!cancelled) setResults(users.filter((u) => u.id !== me?.id));
          })
          .catch((err) => {
            if (!cancelled) setError(describe(err));
          })
          .finally(() => {
            if (!cancelled) setSearching(false);
          });
      },
      150,
    );
    return () => {
      cancelled = true;
      clearTimeout(timer);
    };
  }, [query, me?.id]);

  function toggle(user: User) {
    setError(null);
    if (picked.some((p) => p.id === user.id)) setPicked(picked.filter((p) => p.id !== user.id));
    else if (picked.length >= MAX_DM_OTHERS) setError(`A conversation holds you and at most ${MAX_DM_OTHERS} others.`);
    else setPicked([...picked, user]);
  }

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (!picked.length) return;
    setBusy(true);
    try {
      await openDm(picked.map((p) => p.username));
      onClose();
    } catch (err) {
      setError(err instanceof ApiError ? describe(err) : "Something went wrong");
      setBusy(false);
    }
  }

  return (
    <Dialog title="New message" onClose={onClose}>
      <form onSubmit={submit} className="stack">
        <p className="muted small dialog-lead">Start a private conversation with one person or a small group (up to {MAX_DM_OTHERS}).</p>
        {picked.length > 0 && (
          <ul className="chips" aria-label="Chosen people">
            {picked.map((u) => (
              <li key={u.id} className="chip">
                <Avatar user={u} small />
                <span>{displayName(u)}</span>
                <button type="button" className="icon-btn" aria-label={`Remove ${displayName(u)}`} onClick={() => toggle(u)}>
                  <CloseIcon size={12} />
                </button>
              </li>
            ))}
          </ul>
        )}
        <label htmlFor={searchId}>Find people</label>
        <input
          id={searchId}
          autoFocus
          autoComplete="off"
          placeholder="Name or username"
          value={query}
          onChange={(e) => setQuery(e.target.value)}
        />
        <ul className="picker" aria-label="People" aria-busy={searching}>
          {results.map((u) => {
            const on = picked.some((p) => p.id === u.id);
            return (
              <li key={u.id}>
                <button
                  type="button"
                  className={`picker-row${on ? " on" : ""}`}
                  role="checkbox"
                  aria-checked={on}
                  data-testid="person-option"
                  data-username={u.username}
                  onClick={() => toggle(u)}
                >
                  <Avatar user={u} small />
                  <span className="picker-name">
                    <span>{displayName(u)}</span>
                    <span className="muted small">
                      @{u.username}
                      {u.guest ? " · guest" : ""}
                    </span>
                  </span>
                  <span className="picker-check" aria-hidden="true">
                    {on && <CheckIcon size={14} />}
                  </span>
                </button>
              </li>
            );
          })}
          {!searching && results.length === 0 && (
            <li className="muted small picker-empty">{query.trim() ? "No one found." : "Type a name to find people."}</li>
          )}
        </ul>
        {error && (
          <p className="form-error" role="alert">
            {error}
          </p>
        )}
        <div className="dialog-actions">
          <button type="button" className="btn ghost" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="btn primary" disabled={busy || picked.length === 0}>
            {picked.length > 1 ? "Start group conversation" : "Start conversation"}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
