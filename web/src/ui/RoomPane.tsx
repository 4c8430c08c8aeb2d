import { useEffect, useRef, useState } from "react";
import { MenuIcon, MoreIcon, PinIcon, SearchIcon } from "./icons";
import { clearRoom, deleteRoom, leaveRoom, setDrawer } from "../chat";
import { onlineCountOf } from "../roomState";
import { moderates, roomTitle } from "../names";
import { openSearch, useSearch } from "../search";
import { useChat } from "../store";
import { Composer } from "./Composer";
import { ConfirmDialog } from "./Dialog";
import { CreateInviteDialog } from "./InviteDialogs";
import { MessageList } from "./MessageList";
import { PeoplePanel } from "./PeoplePanel";
import { RoomSettingsDialog } from "./RoomSettingsDialog";
import { RoomMark, useKnownUsers } from "./Sidebar";
import { TypingLine } from "./TypingLine";
// ---- issue #10: threads, pins, notification level ----
import type { NotificationLevel } from "../protocol";
import { closeThread, pinAllowed, setPinsOpen } from "../threads";
import { levelOf, setLevel } from "../unread";
import { ContextPanel } from "./ContextPanel";
import { PinsPanel } from "./PinsPanel";
import { ThreadPanel } from "./ThreadPanel";
// ---- #13: calls ----
import { CallButton, CallPanel } from "./CallPanel";

const LEVELS: { value: NotificationLevel; label: string }[] = [
  { value: "all", label: "All messages" },
  { value: "mentions", label: "Mentions only" },
  { value: "nothing", label: "Nothing" },
];

type Confirm = "clear" | "delete" | "leave" | "settings" | "invite" | null;

export function RoomPane({ roomId }: { roomId: string }) {
  const room = useChat((s) => s.rooms[roomId]);
  const me = useChat((s) => s.me);
  const onlineCount = useChat((s) => {
    const view = s.views[roomId];
    return view ? onlineCountOf(view) : undefined;
  });
  const known = useKnownUsers(roomId);
  const [peopleOpen, setPeopleOpen] = useState(() => window.matchMedia("(min-width: 1180px)").matches);
  const [menuOpen, setMenuOpen] = useState(false);
  const [confirm, setConfirm] = useState<Confirm>(null);
  const menuRef = useRef<HTMLDivElement>(null);
  const thread = useChat((s) => (s.thread?.roomId === roomId ? s.thread.rootId : null));
  const pinsOpen = useChat((s) => s.pinsOpen);
  const context = useSearch((s) => (s.context?.roomId === roomId ? s.context : null));
  const level = useChat((s) => levelOf(s, roomId));

  useEffect(() => {
    if (!menuOpen) return;
    const close = (e: MouseEvent) => {
      if (!menuRef.current?.contains(e.target as Node)) setMenuOpen(false);
    };
    document.addEventListener("mousedown", close);
    return () => document.removeEventListener("mousedown", close);
  }, [menuOpen]);

  if (!room) return <main className="room-pane empty-state" />;
  const direct = room.kind === "direct";
  const isOwner = room.my_role === "owner" || (room.owner_id !== null && room.owner_id === me?.id);
  const moderator = moderates(room, me);
  const canPin = pinAllowed(room, moderator);
  const title = roomTitle(room, me, known);
  const pick = (c: Confirm) => () => {
    setMenuOpen(false);
    setConfirm(c);
  };

  return (
    <main className="room-pane" aria-labelledby="room-title">
      <header className="room-header">
        <button className="icon-btn drawer-toggle" aria-label="Open rooms" aria-controls="sidebar" onClick={() => setDrawer(true)}>
          <MenuIcon size={20} />
        </button>
        <div className="room-title">
          <h1 id="room-title" data-room-kind={room.kind}>
            {!direct && <RoomMark room={room} />}
            {title}
          </h1>
          {direct ? (
            <p className="room-topic">Direct conversation</p>
          ) : (
            room.topic && <p className="room-topic">{room.topic}</p>
          )}
        </div>
        <CallButton roomId={roomId} />
        <button className="icon-btn search-toggle" aria-label="Search messages" aria-keyshortcuts="Control+K Meta+K" title="Search (Ctrl+K)" onClick={openSearch} data-testid="search-open">
          <SearchIcon size={20} />
        </button>
        <button
          className="btn ghost small people-toggle"
          aria-expanded={peopleOpen && !thread && !pinsOpen}
          aria-controls={peopleOpen && !thread && !pinsOpen ? "people" : undefined}
          onClick={() => {
            // #10: the thread and pins panels share the side: the people button brings people back.
            if (thread || pinsOpen) {
              closeThread();
              setPinsOpen(false);
              setPeopleOpen(true);
            } else setPeopleOpen((o) => !o);
          }}
          data-testid="online-count"
        >
          <span className="dot on" aria-hidden="true" /> {onlineCount ?? room.online_count} online
        </button>
        <button
          className={`icon-btn pins-toggle${pinsOpen ? " on" : ""}`}
          aria-label="Pinned messages"
          title="Pinned messages"
          aria-pressed={pinsOpen}
          onClick={() => setPinsOpen(!pinsOpen)}
          data-testid="pins-toggle"
        >
          <PinIcon size={18} />
        </button>
        <div className="menu-wrap" ref={menuRef}>
          <button className="icon-btn" aria-label="Room options" aria-haspopup="menu" aria-expanded={menuOpen} onClick={() => setMenuOpen((o) => !o)}>
            <MoreIcon size={20} />
          </button>
          {menuOpen && (
            <div className="menu" role="menu">
              <div className="menu-label" role="presentation">
                Notify me about
              </div>
              {LEVELS.map((l) => (
                <button
                  key={l.value}
                  role="menuitemradio"
                  aria-checked={level === l.value}
                  onClick={() => {
                    setMenuOpen(false);
                    void setLevel(roomId, l.value);
                  }}
                >
                  <span className="menu-check" aria-hidden="true">
                    {level === l.value ? "✓" : ""}
                  </span>
                  {l.label}
                </button>
              ))}
              <div className="menu-sep" role="separator" />
              {(moderator || room.kind === "public") && !direct && (
                <button role="menuitem" onClick={pick("invite")}>
                  Invite people…
                </button>
              )}
              {isOwner && !direct && (
                <button role="menuitem" onClick={pick("settings")}>
                  Room settings…
                </button>
              )}
              {moderator && !direct && (
                <button role="menuitem" className="danger-text" onClick={pick("clear")}>
                  Clear all messages…
                </button>
              )}
              {!direct && (
                <button role="menuitem" onClick={pick("leave")}>
                  Leave room
                </button>
              )}
              {isOwner && !direct && (
                <button role="menuitem" className="danger-text" onClick={pick("delete")}>
                  Delete room…
                </button>
              )}
            </div>
          )}
        </div>
      </header>
      <CallPanel roomId={roomId} />
      <div className="room-body">
        <div className="conversation">
          <MessageList roomId={roomId} moderator={moderator} canPin={canPin} />
          <TypingLine roomId={roomId} />
          <Composer roomId={roomId} roomName={title} direct={direct} />
        </div>
        {thread ? (
          <ThreadPanel key={thread} roomId={roomId} rootId={thread} />
        ) : pinsOpen ? (
          <PinsPanel roomId={roomId} canPin={canPin} />
        ) : context ? (
          <ContextPanel key={`${context.messageId}@${context.at}`} roomId={roomId} messageId={context.messageId} />
        ) : (
          peopleOpen && <PeoplePanel room={room} onClose={() => setPeopleOpen(false)} onInvite={() => setConfirm("invite")} />
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
      {confirm === "invite" && <CreateInviteDialog room={room} onClose={() => setConfirm(null)} />}
      {confirm === "leave" && (
        <ConfirmDialog
          title={`Leave #${room.name}?`}
          text={
            room.kind === "private"
              ? "It's a private room: you'll need a new invite to come back."
              : "You can join again from Browse at any time."
          }
          confirm="Leave"
          onConfirm={() => void leaveRoom(roomId)}
          onClose={() => setConfirm(null)}
        />
      )}
    </main>
  );
}
