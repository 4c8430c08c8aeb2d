import { openDialog } from "../chat";
import { Dialog } from "./Dialog";

/** Shown once, to the person whose registration made them this install's first site admin. */
export function WelcomeDialog() {
  return (
    <Dialog title="You're the admin of this Palaver" onClose={() => openDialog(null)}>
      <div className="welcome" data-testid="admin-welcome">
        <div className="welcome-mark" aria-hidden="true">
          <div className="brand-mark large still" />
        </div>
        <p>
          Yours was the first account, so you look after this server: you can moderate every room you're in, and read the
          audit log of what moderators did.
        </p>
        <p className="muted">
          A good start: create a room for your people, then invite them with a link from the room's member list.
        </p>
        <div className="dialog-actions">
          <button className="btn ghost" onClick={() => openDialog(null)}>
            Later
          </button>
          <button className="btn primary" autoFocus onClick={() => openDialog("createRoom")}>
            Create a room
          </button>
        </div>
      </div>
    </Dialog>
  );
}
