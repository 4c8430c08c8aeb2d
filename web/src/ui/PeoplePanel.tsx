import { useEffect, useId, useMemo, useRef, useState, type FormEvent } from "react";
import { describe, refreshMembers } from "../chat";
import { displayName, moderates, roleBadge } from "../names";
import { addMember, openProfile } from "../people";
import type { Member, Role, Room } from "../protocol";
import { useChat } from "../store";
import { Avatar } from "./Avatar";
import { CloseIcon, LinkIcon } from "./icons";

/** The members list's first page (the server's default): a room with more shows its count. */
const MEMBERS_PAGE = 500;

const ROLE_ORDER: Record<Role, number> = { owner: 0, admin: 1, moderator: 2, member: 3 };

/** The people panel: everyone in the room with role badges and online dots; moderators add people. */
export function PeoplePanel({ room, onClose, onInvite }: { room: Room; onClose: () => void; onInvite: () => void }) {
  const me = useChat((s) => s.me);
  const members = useChat((s) => s.members[room.id]);
  const online = useChat((s) => s.views[room.id]?.online);
  // A big room is followed by counts: who is online comes from the members list, refreshed as
  // the count moves (at most every 10 s).
  const onlineCount = useChat((s) => s.views[room.id]?.onlineCount ?? null);
  const counted = onlineCount !== null;
  const [adding, setAdding] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const addId = useId();
  const moderator = moderates(room, me);
  const direct = room.kind === "direct";

  // The fetch as the panel opens counts as the counts' first refresh (not a second fetch).
  const lastRefresh = useRef(0);
  useEffect(() => {
    lastRefresh.current = Date.now();
    void refreshMembers(room.id);
  }, [room.id]);

  useEffect(() => {
    if (!counted) return;
    const wait = lastRefresh.current + 10_000 - Date.now();
    const timer = setTimeout(
      () => {
        lastRefresh.current = Date.now();
        void refreshMembers(room.id);
      },
      Math.max(wait, 0),
    );
    return () => clearTimeout(timer);
  }, [room.id, counted, onlineCount]);

  const onlineIds = useMemo(() => new Set((online ?? []).map((u) => u.id)), [online]);
  const sorted = useMemo(() => {
    const isOn = (m: Member) => onlineIds.has(m.user.id) || ((counted || online === undefined) && m.online);
    return [...(members ?? [])].sort(
      (a, b) =>
        Number(isOn(b)) - Number(isOn(a)) ||
        ROLE_ORDER[a.role] - ROLE_ORDER[b.role] ||
        displayName(a.user).localeCompare(displayName(b.user)),
    );
  }, [members, onlineIds, online, counted]);

  async function add(e: FormEvent) {
    e.preventDefault();
    const name = adding.trim().replace(/^@/, "");
    if (!name) return;
    setBusy(true);
    setError(null);
    try {
      await addMember(room.id, name);
      setAdding("");
    } catch (err) {
      setError(describe(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <aside className="people" id="people" aria-label="People in this room" data-testid="people">
      <div className="people-head">
        <h2>
          {direct ? "In this conversation" : "Members"} — {members && members.length < MEMBERS_PAGE ? members.length : room.member_count}
        </h2>
        <button className="icon-btn people-close" aria-label="Close" onClick={onClose}>
          <CloseIcon />
        </button>
      </div>
      {(moderator || room.kind === "public") && !direct && (
        <div className="people-tools">
          {moderator && (
            <form className="add-member" onSubmit={add}>
              <label htmlFor={addId} className="sr-only">
                Add someone by username
              </label>
              <input
                id={addId}
                placeholder="Add by username"
                autoComplete="off"
                value={adding}
                onChange={(e) => {
                  setAdding(e.target.value);
                  setError(null);
                }}
              />
              <button className="btn small primary" type="submit" disabled={busy || !adding.trim()}>
                Add
              </button>
            </form>
          )}
          {error && (
            <p className="form-error small" role="alert">
              {error}
            </p>
          )}
          <button className="btn ghost small wide-btn" onClick={onInvite}>
            <LinkIcon size={14} /> Invite link…
          </button>
        </div>
      )}
      <ul>
        {sorted.map((m) => {
          const on = onlineIds.has(m.user.id) || ((counted || online === undefined) && m.online);
          const badge = roleBadge(m.role);
          return (
            <li key={m.user.id} data-testid="member-row" data-username={m.user.username} data-online={on}>
              <button className="member-btn" onClick={() => openProfile(m.user.id, room.id)}>
                <span className="avatar-wrap">
                  <Avatar user={m.user} small />
                  {on && <span className="presence-dot" aria-hidden="true" />}
                </span>
                <span className="member-name">
                  {displayName(m.user)}
                  {m.user.id === me?.id && <span className="muted small"> (you)</span>}
                  <span className="sr-only">{on ? ", online" : ", offline"}</span>
                </span>
                {/* One tag keeps the name readable: the room role when there is one, else "guest". */}
                {badge && !direct ? (
                  <span className={`tag role-${m.role}`} data-testid="role-badge">
                    {badge}
                  </span>
                ) : (
                  m.user.guest && <span className="tag">guest</span>
                )}
              </button>
            </li>
          );
        })}
      </ul>
    </aside>
  );
}
