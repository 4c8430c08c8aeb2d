import { useChat } from "../store";

const LABELS = {
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  polling: "Live (polling)",
  offline: "Offline",
} as const;

export function ConnectionLight() {
  const state = useChat((s) => s.connection);
  return (
    <div className={`conn conn-${state}`} data-testid="connection" data-state={state} role="status" aria-label={`Connection: ${LABELS[state]}`}>
      <span className="conn-dot" aria-hidden="true" />
      <span className="conn-label">{LABELS[state]}</span>
    </div>
  );
}
