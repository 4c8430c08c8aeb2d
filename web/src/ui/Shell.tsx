import { useEffect } from "react";
import { dismissToast, openDialog, setDrawer } from "../chat";
import { roomTitle } from "../names";
import { totalUnread as countUnread } from "../unread";
import { useChat } from "../store";
import { CreateRoomDialog } from "./CreateRoomDialog";
import { JoinInviteDialog } from "./InviteDialogs";
import { NewDmDialog } from "./NewDmDialog";
import { ProfileCard } from "./ProfileCard";
import { RoomPane } from "./RoomPane";
import { SearchHost } from "./Search";
import { SettingsDialog } from "./SettingsDialog";
import { Sidebar } from "./Sidebar";
import { WelcomeDialog } from "./WelcomeDialog";
import { preloadFormatting } from "./MessageExtras";
import { ConnectionBanner, isDisconnected } from "./ConnectionBanner";
import { CallElsewhere, IncomingCall } from "./CallPanel";

export function Shell() {
  const drawerOpen = useChat((s) => s.drawerOpen);
  const activeRoomId = useChat((s) => s.activeRoomId);
  const toasts = useChat((s) => s.toasts);
  const announcement = useChat((s) => s.announcement);
  const room = useChat((s) => (s.activeRoomId ? s.rooms[s.activeRoomId] : undefined));
  const me = useChat((s) => s.me);
  const dialog = useChat((s) => s.dialog);
  const profile = useChat((s) => s.profile);
  const inviteCode = useChat((s) => s.inviteCode);
  const roomName = room ? (room.kind === "direct" ? roomTitle(room, me) : `#${room.name}`) : undefined;
  const totalUnread = useChat(countUnread);
  // #15: while the server can't be reached, who is online is unknown: presence shows grey.
  const disconnected = useChat((s) => isDisconnected(s.connection));
  // #10: start loading the message formatter as soon as the chat shows.
  useEffect(() => preloadFormatting(), []);
  // The tab title tells a person in another tab that something is waiting.
  useEffect(() => {
    const base = roomName ? `${roomName} · Palaver` : "Palaver";
    document.title = totalUnread > 0 ? `(${totalUnread}) ${base}` : base;
  }, [roomName, totalUnread]);
  return (
    <div className={`shell${drawerOpen ? " drawer-open" : ""}${disconnected ? " disconnected" : ""}`}>
      <a className="skip-link" href="#composer-input">
        Skip to message box
      </a>
      <Sidebar />
      <div className="drawer-backdrop" onClick={() => setDrawer(false)} aria-hidden="true" />
      {activeRoomId ? (
        <RoomPane key={activeRoomId} roomId={activeRoomId} />
      ) : (
        <main className="room-pane empty-state">
          <p className="muted">Pick a room to start talking.</p>
        </main>
      )}
      <div className="sr-only" aria-live="polite" aria-atomic="true" data-testid="live-region">
        {announcement}
      </div>
      {dialog === "createRoom" && <CreateRoomDialog onClose={() => openDialog(null)} />}
      {dialog === "newDm" && <NewDmDialog onClose={() => openDialog(null)} />}
      {dialog === "settings" && <SettingsDialog onClose={() => openDialog(null)} />}
      {dialog === "welcome" && <WelcomeDialog />}
      {profile && <ProfileCard key={profile.userId} userId={profile.userId} roomId={profile.roomId} />}
      {inviteCode && !dialog && <JoinInviteDialog key={inviteCode} code={inviteCode} />}
      <SearchHost />
      <ConnectionBanner />
      <IncomingCall />
      <CallElsewhere />
      <div className="toasts" role="status" aria-live="polite">
        {toasts.map((t) => (
          <div key={t.id} className="toast">
            <span>{t.text}</span>
            {t.action && (
              <button className="btn small toast-action" onClick={t.action.run}>
                {t.action.label}
              </button>
            )}
            <button className="icon-btn" aria-label="Dismiss" onClick={() => dismissToast(t.id)}>
              ×
            </button>
          </div>
        ))}
      </div>
    </div>
  );
}
