import { useMemo, useState } from "react";
import { BellIcon, BellOffIcon, PeopleIcon, PlusIcon } from "./icons";
import { selectRoom, setSound, setTheme, signOut } from "../chat";
import { unreadCount } from "../roomState";
import { sortRooms, useChat, type ThemeChoice } from "../store";
import type { Room } from "../protocol";
import { ConnectionLight } from "./ConnectionLight";
import { CreateRoomDialog } from "./CreateRoomDialog";
import { Avatar } from "./Avatar";

function RoomRow({ room, joined }: { room: Room; joined: boolean }) {
  const active = useChat((s) => s.activeRoomId === room.id);
  const unread = useChat((s) => unreadCount(s.views[room.id], s.readSeq[room.id] ?? 0, s.me));
  // A followed room knows its live presence; the room object's count can lag by a second.
  const liveOnline = useChat((s) => s.views[room.id]?.online.length);
  const online = liveOnline ?? room.online_count;
  const details = `, ${online} online, ${room.member_count} members${unread ? `, ${unread} unread` : ""}`;
  return (
    <li>
      <button
        className={`room-row${active ? " active" : ""}${unread && !active ? " has-unread" : ""}`}
        aria-current={active ? "page" : undefined}
        data-testid="room-row"
        data-room-name={room.name}
        onClick={() => void selectRoom(room.id)}
      >
        <span className="room-hash" aria-hidden="true">
          #
        </span>
        <span className="room-name">{room.name}</span>
        <span className="sr-only">{details}</span>
        <span className="room-counts" aria-hidden="true">
          {joined && unread > 0 && !active ? (
            <span className="badge" data-testid="unread">
              {unread > 99 ? "99+" : unread}
            </span>
          ) : (
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
  const [creating, setCreating] = useState(false);
  const sorted = useMemo(() => sortRooms(rooms), [rooms]);
  const joined = sorted.filter((r) => joinedIds.includes(r.id));
  const others = sorted.filter((r) => !joinedIds.includes(r.id));

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
          <h2>Your rooms</h2>
          <button className="icon-btn" aria-label="Create a room" title="Create a room" onClick={() => setCreating(true)}>
            <PlusIcon />
          </button>
        </div>
        <ul className="room-list" data-testid="joined-rooms">
          {joined.map((r) => (
            <RoomRow key={r.id} room={r} joined />
          ))}
        </ul>
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
              <span data-testid="me">{me.username}</span>
              <span className="muted small">{me.guest ? "guest" : "member"}</span>
            </div>
            <button className="btn ghost small" onClick={() => void signOut()}>
              Sign out
            </button>
          </div>
        )}
      </div>
      {creating && <CreateRoomDialog onClose={() => setCreating(false)} />}
    </nav>
  );
}
