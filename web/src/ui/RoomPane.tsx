import { useEffect, useRef, useState } from "react";
import { CloseIcon, MenuIcon, MoreIcon } from "./icons";
import { clearRoom, deleteRoom, fetchMembers, leaveRoom, setDrawer } from "../chat";
import type { Role } from "../protocol";
import { useChat } from "../store";
import { Avatar } from "./Avatar";
import { Composer } from "./Composer";
import { ConfirmDialog } from "./Dialog";
import { MessageList } from "./MessageList";
import { RoomSettingsDialog } from "./RoomSettingsDialog";
import { TypingLine } from "./TypingLine";

type Confirm = "clear" | "delete" | "leave" | "settings" | null;

export function RoomPane({ roomId }: { roomId: string }) {
  const room = useChat((s) => s.rooms[roomId]);
  const me = useChat((s) => s.me);
  const online = useChat((s) => s.views[roomId]?.online);
  const [role, setRole] = useState<Role>("member");
  const [peopleOpen, setPeopleOpen] = useState(() => window.matchMedia("(min-width: 1180px)").matches);
  const [menuOpen, setMenuOpen] = useState(false);
  const [confirm, setConfirm] = useState<Confirm>(null);
  const menuRef = useRef<HTMLDivElement>(null);

  useEffect(() => {
    let cancelled = false;
    fetchMembers(roomId)
      .then((members) => {
        const mine = members.find((m) => m.user.id === me?.id);
        if (!cancelled && mine) setRole(mine.role);
      })
      .catch(() => undefined);
    return () => {
      cancelled = true;
    };
  }, [roomId, me?.id]);

  useEffect(() => {
    if (!menuOpen) return;
    const close = (e: MouseEvent) => {
      if (!menuRef.current?.contains(e.target as Node)) setMenuOpen(false);
    };
    document.addEventListener("mousedown", close);
    return () => document.removeEventListener("mousedown", close);
  }, [menuOpen]);

  if (!room) return <main className="room-pane empty-state" />;
  const isOwner = room.owner_id !== null && room.owner_id === me?.id;
  const moderator = isOwner || role === "owner" || role === "admin";
  const onlineUsers = online ?? [];

  return (
    <main className="room-pane" aria-labelledby="room-title">
      <header className="room-header">
        <button className="icon-btn drawer-toggle" aria-label="Open rooms" aria-controls="sidebar" onClick={() => setDrawer(true)}>
          <MenuIcon size={20} />
        </button>
        <div className="room-title">
          <h1 id="room-title">
            <span className="room-hash" aria-hidden="true">
              #
            </span>
            {room.name}
          </h1>
          {room.topic && <p className="room-topic">{room.topic}</p>}
        </div>
        <button
          className="btn ghost small people-toggle"
          aria-expanded={peopleOpen}
          aria-controls="people"
          onClick={() => setPeopleOpen((o) => !o)}
          data-testid="online-count"
        >
          <span className="dot on" aria-hidden="true" /> {onlineUsers.length} online
        </button>
        <div className="menu-wrap" ref={menuRef}>
          <button className="icon-btn" aria-label="Room options" aria-haspopup="menu" aria-expanded={menuOpen} onClick={() => setMenuOpen((o) => !o)}>
            <MoreIcon size={20} />
          </button>
          {menuOpen && (
            <div className="menu" role="menu">
              {isOwner && (
                <button role="menuitem" onClick={() => { setMenuOpen(false); setConfirm("settings"); }}>
                  Room settings…
                </button>
              )}
              {moderator && (
                <button role="menuitem" className="danger-text" onClick={() => { setMenuOpen(false); setConfirm("clear"); }}>
                  Clear all messages…
                </button>
              )}
              <button role="menuitem" onClick={() => { setMenuOpen(false); setConfirm("leave"); }}>
                Leave room
              </button>
              {isOwner && (
                <button role="menuitem" className="danger-text" onClick={() => { setMenuOpen(false); setConfirm("delete"); }}>
                  Delete room…
                </button>
              )}
            </div>
          )}
        </div>
      </header>
      <div className="room-body">
        <div className="conversation">
          <MessageList roomId={roomId} moderator={moderator} />
          <TypingLine roomId={roomId} />
          <Composer roomId={roomId} roomName={room.name} />
        </div>
        {peopleOpen && (
          <aside className="people" id="people" aria-label="Online in this room" data-testid="people">
            <div className="people-head">
              <h2>Online — {onlineUsers.length}</h2>
              <button className="icon-btn people-close" aria-label="Close" onClick={() => setPeopleOpen(false)}>
                <CloseIcon />
              </button>
            </div>
            <ul>
              {onlineUsers.map((u) => (
                <li key={u.id} data-testid="online-user">
                  <span className="avatar-wrap">
                    <Avatar user={u} small />
                    <span className="presence-dot" aria-hidden="true" />
                  </span>
                  <span>{u.username}</span>
                  {u.id === me?.id && <span className="muted small">you</span>}
                  {u.id === room.owner_id && <span className="tag">owner</span>}
                </li>
              ))}
            </ul>
          </aside>
        )}
      </div>
      {confirm === "clear" && (
        <ConfirmDialog
          title={`Clear #${room.name}?`}
          text="Every message in this room is deleted for everyone. This can't be undone."
          confirm="Clear for everyone"
          danger
          onConfirm={() => void clearRoom(roomId)}
          onClose={() => setConfirm(null)}
        />
      )}
      {confirm === "delete" && (
        <ConfirmDialog
          title={`Delete #${room.name}?`}
          text="The room and all its messages are deleted for everyone."
          confirm="Delete room"
          danger
          onConfirm={() => void deleteRoom(roomId)}
          onClose={() => setConfirm(null)}
        />
      )}
      {confirm === "settings" && <RoomSettingsDialog room={room} onClose={() => setConfirm(null)} />}
      {confirm === "leave" && (
        <ConfirmDialog
          title={`Leave #${room.name}?`}
          text="You can join again from Browse at any time."
          confirm="Leave"
          onConfirm={() => void leaveRoom(roomId)}
          onClose={() => setConfirm(null)}
        />
      )}
    </main>
  );
}
