/**
 * The outage banner (#15): while the server can't be reached it says so plainly, counts down to
 * the next attempt and offers to try at once. The small light in the sidebar stays for the
 * steady states.
 */
import { retryNow } from "../chat";
import { useChat } from "../store";
import { useNow } from "./useNow";

/** Whether the screen should show the server's news as stale (presence greyed, the banner). */
export function isDisconnected(state: string): boolean {
  return state === "reconnecting" || state === "offline";
}

export function ConnectionBanner() {
  const state = useChat((s) => s.connection);
  const at = useChat((s) => s.reconnectAt);
  const signedIn = useChat((s) => s.me !== null);
  const down = signedIn && isDisconnected(state);
  const now = useNow(down && at !== null ? 250 : 60_000);
  if (!down) return null;
  const browserOffline = typeof navigator !== "undefined" && navigator.onLine === false;
  const seconds = at === null ? null : Math.max(0, Math.ceil((at - now) / 1000));
  const next =
    browserOffline ? "waiting for the network" : seconds === null || seconds === 0 ? "reconnecting…" : `reconnecting in ${seconds} s`;
  return (
    <div className="conn-banner" role="alert" data-testid="connection-banner">
      <span>
        <strong>Offline</strong> — {next}
      </span>
      <button className="btn small" onClick={retryNow}>
        Retry now
      </button>
    </div>
  );
}
