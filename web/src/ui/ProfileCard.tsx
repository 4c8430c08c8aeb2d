import { useEffect, useId, useState } from "react";
import { profileOf } from "../account";
import { describe } from "../chat";
import { displayName, localTime, moderates, roleBadge } from "../names";
import { ban, closeProfile, kick, membersOf, mute, openDm, setRole, standing as standingOf, unban, unmute } from "../people";
import type { Profile, Role } from "../protocol";
import { useChat } from "../store";
import { Avatar } from "./Avatar";
import { Dialog } from "./Dialog";
import { useNow } from "./useNow";

type Action = "kick" | "ban" | "mute" | "promote" | "demote";

const DURATIONS: { value: string; label: string }[] = [
  { value: "600", label: "10 minutes" },
  { value: "3600", label: "1 hour" },
  { value: "86400", label: "1 day" },
  { value: "604800", label: "1 week" },
  { value: "", label: "Until lifted" },
];

/** A person's card: name, avatar, bio, local time; "Message"; moderators' actions with a confirmation. */
export function ProfileCard({ userId, roomId }: { userId: string; roomId: string | null }) {
  const me = useChat((s) => s.me);
  const room = useChat((s) => (roomId ? s.rooms[roomId] : undefined));
  const member = useChat((s) => (roomId ? s.members[roomId]?.find((m) => m.user.id === userId) : undefined));
  const [profile, setProfile] = useState<Profile | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [action, setAction] = useState<Action | null>(null);
  const [duration, setDuration] = useState("3600");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [standing, setStanding] = useState<{ banned: boolean; muted: boolean }>({ banned: false, muted: false });
  const durationId = useId();
  const now = useNow(30_000);

  // The person's role here decides which actions show: make sure the room's members are known.
  useEffect(() => {
    if (roomId) void membersOf(roomId);
  }, [roomId]);

  useEffect(() => {
    let cancelled = false;
    profileOf(userId).then(
      (p) => !cancelled && setProfile(p),
      (err) => !cancelled && setLoadError(describe(err)),
    );
    return () => {
      cancelled = true;
    };
  }, [userId]);

  const user = profile?.user ?? member?.user;
  const canSanction = !!roomId && !!room && room.kind !== "direct" && moderates(room, me) && userId !== me?.id;

  // A moderator sees whether the person is muted or banned here, to offer lifting it.
  useEffect(() => {
    if (!canSanction || !roomId) return;
    let cancelled = false;
    standingOf(roomId, userId).then((s) => !cancelled && setStanding(s), () => undefined);
    return () => {
      cancelled = true;
    };
  }, [canSanction, roomId, userId]);
  const isMe = userId === me?.id;
  const role: Role | undefined = member?.role;
  const moderator = room ? moderates(room, me) : false;
  // Only the room's owner changes roles (docs/protocol.md, Permissions).
  const owner = !!room && (room.my_role === "owner" || (room.owner_id !== null && room.owner_id === me?.id));
  const canModerate = !!room && room.kind !== "direct" && moderator && !isMe && role !== "owner" && !!member;
  const time = localTime(profile?.timezone, new Date(now));
  const badge = role ? roleBadge(role) : null;
  const name = user ? displayName(user) : "";

  async function run() {
    if (!roomId || !action) return;
    setBusy(true);
    setError(null);
    const secs = duration ? Number(duration) : null;
    try {
      if (action === "kick") await kick(roomId, userId);
      else if (action === "ban") await ban(roomId, userId, secs);
      else if (action === "mute") {
        await mute(roomId, userId, secs);
        setStanding((s) => ({ ...s, muted: true }));
      }
      else await setRole(roomId, userId, action === "promote" ? "moderator" : "member");
      setAction(null);
      if (action === "kick" || action === "ban") closeProfile();
    } catch (err) {
      setError(describe(err));
    } finally {
      setBusy(false);
    }
  }

  async function lift(what: "ban" | "mute") {
    if (!roomId) return;
    setBusy(true);
    setError(null);
    try {
      if (what === "ban") await unban(roomId, userId);
      else await unmute(roomId, userId);
      setStanding((s) => (what === "ban" ? { ...s, banned: false } : { ...s, muted: false }));
    } catch (err) {
      setError(describe(err));
    } finally {
      setBusy(false);
    }
  }

  async function message() {
    if (!user) return;
    setBusy(true);
    try {
      await openDm([user.username]);
    } catch (err) {
      setError(describe(err));
      setBusy(false);
    }
  }

  const roomName = room?.name ?? "this room";
  const confirmText: Record<Action, string> = {
    kick: `Remove ${name} from ${roomName}? They can come back${room?.kind === "private" ? " if invited again" : ""}.`,
    ban: `Ban ${name} from ${roomName}? They can't read or post there until the ban ends.`,
    mute: `Mute ${name} in ${roomName}? They can read but not post.`,
    promote: `Make ${name} a moderator of ${roomName}? Moderators can remove, ban and mute people and delete messages.`,
    demote: `Make ${name} a plain member of ${roomName} again?`,
  };
  const confirmLabel: Record<Action, string> = { kick: "Remove", ban: "Ban", mute: "Mute", promote: "Make moderator", demote: "Remove moderator" };

  return (
    <Dialog title={name ? `${name}'s profile` : "Profile"} onClose={closeProfile}>
      <div className="profile" data-testid="profile-card">
        {user ? (
          <>
            <div className="profile-head">
              <Avatar user={user} large />
              <div className="profile-names">
                <strong className="profile-name">{name}</strong>
                <span className="muted">@{user.username}</span>
                <span className="profile-tags">
                  {user.admin && <span className="tag role-owner">site admin</span>}
                  {badge && room?.kind !== "direct" && <span className={`tag role-${role}`}>{badge}</span>}
                  {user.guest && <span className="tag">guest</span>}
                  {isMe && <span className="tag">you</span>}
                </span>
              </div>
            </div>
            {profile?.bio && <p className="profile-bio">{profile.bio}</p>}
            <dl className="profile-facts">
              {time && (
                <>
                  <dt>Local time</dt>
                  <dd data-testid="local-time">
                    {time} <span className="muted small">({profile?.timezone?.replace(/_/g, " ")})</span>
                  </dd>
                </>
              )}
              {profile && (
                <>
                  <dt>Joined</dt>
                  <dd>{new Date(profile.created_at).toLocaleDateString(undefined, { dateStyle: "medium" })}</dd>
                </>
              )}
            </dl>
          </>
        ) : (
          <p className="muted">{loadError ?? "Loading…"}</p>
        )}
        {action ? (
          <div className="confirm-box" role="group" aria-label="Confirm">
            <p>{confirmText[action]}</p>
            {(action === "ban" || action === "mute") && (
              <>
                <label htmlFor={durationId}>For how long</label>
                <select id={durationId} value={duration} onChange={(e) => setDuration(e.target.value)}>
                  {DURATIONS.map((d) => (
                    <option key={d.value} value={d.value}>
                      {d.label}
                    </option>
                  ))}
                </select>
              </>
            )}
            {error && (
              <p className="form-error" role="alert">
                {error}
              </p>
            )}
            <div className="dialog-actions">
              <button className="btn ghost" onClick={() => setAction(null)}>
                Cancel
              </button>
              <button className={`btn ${action === "promote" || action === "demote" ? "primary" : "danger"}`} disabled={busy} onClick={() => void run()}>
                {confirmLabel[action]}
              </button>
            </div>
          </div>
        ) : (
          <>
            {error && (
              <p className="form-error" role="alert">
                {error}
              </p>
            )}
            <div className="profile-actions">
              {!isMe && user && (
                <button className="btn primary" disabled={busy} onClick={() => void message()}>
                  Message
                </button>
              )}
              {canModerate && (
                <>
                  {owner && role !== "moderator" && role !== "admin" && (
                    <button className="btn ghost" onClick={() => setAction("promote")}>
                      Make moderator
                    </button>
                  )}
                  {owner && role === "moderator" && (
                    <button className="btn ghost" onClick={() => setAction("demote")}>
                      Remove moderator
                    </button>
                  )}
                  {standing.muted ? (
                    <button className="btn ghost" disabled={busy} onClick={() => void lift("mute")}>
                      Unmute
                    </button>
                  ) : (
                    <button className="btn ghost" onClick={() => setAction("mute")}>
                      Mute
                    </button>
                  )}
                  <button className="btn ghost danger-text" onClick={() => setAction("kick")}>
                    Kick
                  </button>
                  <button className="btn ghost danger-text" onClick={() => setAction("ban")}>
                    Ban
                  </button>
                </>
              )}
              {canSanction && standing.banned && (
                <button className="btn ghost" disabled={busy} onClick={() => void lift("ban")}>
                  Unban
                </button>
              )}
              <button className="btn ghost" onClick={closeProfile}>
                Close
              </button>
            </div>
          </>
        )}
      </div>
    </Dialog>
  );
}
