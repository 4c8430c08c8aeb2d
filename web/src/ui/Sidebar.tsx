import { useMemo, useState } from "react";
import { BellIcon, BellOffIcon, ComposeIcon, GearIcon, LockIcon, PeopleIcon, PlusIcon } from "./icons";
import { openDialog, selectRoom, setSound, setTheme, signOut } from "../chat";
import { onlineCountOf } from "../roomState";
import { displayName, dmOthers, roomTitle } from "../names";
import { dismissNotifyPrompt, enableNotifications, roomCounts } from "../unread";
import { guestGraceText } from "../texts";
import { sortRooms, useChat, type ThemeChoice } from "../store";
import type { Room, User } from "../protocol";
import { ConnectionLight } from "./ConnectionLight";
import { ConfirmDialog } from "./Dialog";
import { Avatar } from "./Avatar";

/** Usernames (lower-case) → users, from a room's loaded members: how DM titles get display names. */
export function useKnownUsers(roomId: string): Record<string, User> {
  const members = useChat((s) => s.members[roomId]);
  return useMemo(() => {
    const known: Record<string, User> = {};
    for (const m of members ?? []) known[m.user.username.toLowerCase()] = m.user;
    return known;
  }, [members]);
}

/** The mark before a room's name: # for public rooms, a lock for private ones. */
export function RoomMark({ room }: { room: Room }) {
  if (room.kind === "private") {
    return (
      <span className="room-hash lock" title="Private room">
        <LockIcon size={13} />
        <span className="sr-only">Private room:</span>
      </span>
    );
  }
  return (
    <span className="room-hash" aria-hidden="true">
      #
    </span>
  );
}

function RoomRow({ room, joined }: { room: Room; joined: boolean }) {
  const active = useChat((s) => s.activeRoomId === room.id);
  const me = useChat((s) => s.me);
  // #10: the server's counts (kept live), this browser's until it answers.
  const unread = useChat((s) => roomCounts(s, room.id).unread);
  const mentions = useChat((s) => roomCounts(s, room.id).mentions);
  // A followed room knows its live presence; the room object's count can lag by a second.
  const liveOnline = useChat((s) => {
    const view = s.views[room.id];
    return view && onlineCountOf(view);
  });
  const known = useKnownUsers(room.id);
  const online = liveOnline ?? room.online_count;
  const direct = room.kind === "direct";
  const title = roomTitle(room, me, known);
  const details = direct
    ? `, direct conversation${unread ? `, ${unread} unread` : ""}${mentions ? `, ${mentions} mentions` : ""}`
    : `, ${online} online, ${room.member_count} members${unread ? `, ${unread} unread` : ""}${mentions ? `, ${mentions} mentions` : ""}`;
  const others = direct ? dmOthers(room, me?.username) : [];
  const firstOther = others[0] ? known[others[0].toLowerCase()] : undefined;
  return (
    <li>
      <button
        className={`room-row${active ? " active" : ""}${unread && !active ? " has-unread" : ""}`}
        aria-current={active ? "page" : undefined}
        data-testid="room-row"
        data-room-name={room.name}
        data-room-kind={room.kind}
        onClick={() => void selectRoom(room.id)}
      >
        {direct ? (
          <span className="dm-mark" aria-hidden="true">
            <Avatar user={firstOther ?? { id: room.id, username: others[0] ?? title, display_name: null }} small />
            {others.length > 1 && <span className="dm-count">{others.length}</span>}
          </span>
        ) : (
          <RoomMark room={room} />
        )}
        <span className="room-name" data-testid="room-title">
          {title}
        </span>
        <span className="sr-only">{details}</span>
        <span className="room-counts" aria-hidden="true">
          {joined && unread > 0 && !active ? (
            <>
              {mentions > 0 && (
                <span className="badge mention-badge" data-testid="mentions" title={`${mentions} mention${mentions === 1 ? "" : "s"}`}>
                  @{mentions > 99 ? "99+" : mentions}
                </span>
              )}
              <span className="badge" data-testid="unread">
                {unread > 99 ? "99+" : unread}
              </span>
            </>
          ) : direct ? null : (
            <span className="count" title={`${online} online · ${room.member_count} members`}>
              <span className={`dot${online > 0 ? " on" : ""}`} />
              {online}
              <span className="members-count">
                <PeopleIcon size={12} />
                {room.member_count}
              </span>
            </span>
          )}
        </span>
      </button>
    </li>
  );
}

const THEMES: { value: ThemeChoice; label: string }[] = [
  { value: "system", label: "Auto" },
  { value: "light", label: "Light" },
  { value: "dark", label: "Dark" },
];

export function Sidebar() {
  const rooms = useChat((s) => s.rooms);
  const joinedIds = useChat((s) => s.joined);
  const me = useChat((s) => s.me);
  const theme = useChat((s) => s.theme);
  const sound = useChat((s) => s.sound);
  const grace = useChat((s) => s.config?.guest_name_grace_secs);
  const [confirmSignOut, setConfirmSignOut] = useState(false);
  const sorted = useMemo(() => sortRooms(rooms), [rooms]);
  const joined = sorted.filter((r) => joinedIds.includes(r.id) && r.kind !== "direct");
  const dms = sorted.filter((r) => joinedIds.includes(r.id) && r.kind === "direct");
  const others = sorted.filter((r) => !joinedIds.includes(r.id) && r.kind === "public");

  return (
    <nav className="sidebar" aria-label="Rooms" id="sidebar">
      <div className="sidebar-head">
        <div className="brand">
          <div className="brand-mark" aria-hidden="true" />
          <span className="brand-name">Palaver</span>
        </div>
        <ConnectionLight />
      </div>
      <div className="sidebar-scroll">
        <div className="section-head">
          <h2>Rooms</h2>
          <button className="icon-btn" aria-label="Create a room" title="Create a room" onClick={() => openDialog("createRoom")}>
            <PlusIcon />
          </button>
        </div>
        <ul className="room-list" data-testid="joined-rooms">
          {joined.map((r) => (
            <RoomRow key={r.id} room={r} joined />
          ))}
        </ul>
        <div className="section-head">
          <h2>Direct messages</h2>
          <button className="icon-btn" aria-label="New message" title="New message" onClick={() => openDialog("newDm")}>
            <ComposeIcon />
          </button>
        </div>
        <ul className="room-list" data-testid="dm-rooms">
          {dms.map((r) => (
            <RoomRow key={r.id} room={r} joined />
          ))}
        </ul>
        {dms.length === 0 && (
          <button className="empty-hint" onClick={() => openDialog("newDm")}>
            Start a conversation…
          </button>
        )}
        {others.length > 0 && (
          <>
            <div className="section-head">
              <h2>Browse</h2>
            </div>
            <ul className="room-list" data-testid="other-rooms">
              {others.map((r) => (
                <RoomRow key={r.id} room={r} joined={false} />
              ))}
            </ul>
          </>
        )}
      </div>
      <NotifyPrompt />
      <div className="sidebar-foot">
        <div className="prefs">
          <div className="segmented small" role="radiogroup" aria-label="Theme">
            {THEMES.map((t) => (
              <button
                key={t.value}
                role="radio"
                aria-checked={theme === t.value}
                className={theme === t.value ? "active" : ""}
                onClick={() => setTheme(t.value)}
              >
                {t.label}
              </button>
            ))}
          </div>
          <button
            className={`icon-btn toggle${sound ? " on" : ""}`}
            aria-pressed={sound}
            aria-label="Sound for new messages while this tab is hidden"
            title={sound ? "Sound on (when tab hidden)" : "Sound off"}
            onClick={() => setSound(!sound)}
          >
            {sound ? <BellIcon /> : <BellOffIcon />}
          </button>
        </div>
        {me && (
          <div className="me-row">
            <Avatar user={me} />
            <div className="me-name">
              <span data-testid="me" title={displayName(me)}>
                {me.username}
              </span>
              <span className="muted small">{me.guest ? "guest" : me.admin ? "site admin" : "member"}</span>
            </div>
            <button className="icon-btn" aria-label="Account settings" title="Account settings" onClick={() => openDialog("settings")}>
              <GearIcon size={18} />
            </button>
            <button className="btn ghost small" onClick={() => (me.guest ? setConfirmSignOut(true) : void signOut())}>
              Sign out
            </button>
          </div>
        )}
      </div>
      {confirmSignOut && (
        <ConfirmDialog
          title="Sign out?"
          text={guestGraceText(grace)}
          confirm="Sign out"
          onConfirm={() => void signOut()}
          onClose={() => setConfirmSignOut(false)}
        />
      )}
    </nav>
  );
}

/** #10: after the first message sent, a small offer to turn desktop notifications on. */
function NotifyPrompt() {
  const show = useChat((s) => s.notifyPrompt);
  if (!show) return null;
  return (
    <div className="notify-prompt" role="region" aria-label="Notifications" data-testid="notify-prompt">
      <p>Get a desktop notification when someone mentions you?</p>
      <div className="notify-actions">
        <button className="btn primary small" onClick={() => void enableNotifications()}>
          Turn on
        </button>
        <button className="btn ghost small" onClick={dismissNotifyPrompt}>
          Not now
        </button>
      </div>
    </div>
  );
}
