import { dismissToast, setDrawer } from "../chat";
import { useChat } from "../store";
import { RoomPane } from "./RoomPane";
import { Sidebar } from "./Sidebar";

export function Shell() {
  const drawerOpen = useChat((s) => s.drawerOpen);
  const activeRoomId = useChat((s) => s.activeRoomId);
  const toasts = useChat((s) => s.toasts);
  const announcement = useChat((s) => s.announcement);
  return (
    <div className={`shell${drawerOpen ? " drawer-open" : ""}`}>
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
      <div className="toasts" role="status" aria-live="polite">
        {toasts.map((t) => (
          <div key={t.id} className="toast">
            <span>{t.text}</span>
            <button className="icon-btn" aria-label="Dismiss" onClick={() => dismissToast(t.id)}>
              ×
            </button>
          </div>
        ))}
      </div>
    </div>
  );
}
