import { useId, useState, type FormEvent } from "react";
import { ApiError } from "../api";
import { signIn } from "../chat";
import { useChat } from "../store";
import { guestGraceText } from "../texts";

type Mode = "guest" | "login" | "register";

const TITLES: Record<Mode, string> = { guest: "Guest", login: "Sign in", register: "Register" };

export function SignIn() {
  const config = useChat((s) => s.config);
  const inviteCode = useChat((s) => s.inviteCode);
  const guestsAllowed = config?.allow_guests !== false;
  const [chosen, setMode] = useState<Mode>("guest");
  const mode: Mode = chosen === "guest" && !guestsAllowed ? "login" : chosen;
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const userId = useId();
  const passId = useId();

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await signIn(mode, username.trim(), password);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : "Something went wrong");
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="center-page signin">
      <form className="card signin-card" onSubmit={submit} aria-labelledby="signin-title">
        <div className="brand">
          <div className="brand-mark" aria-hidden="true" />
          <span className="brand-name">Palaver</span>
        </div>
        <h1 id="signin-title">Welcome</h1>
        {inviteCode ? (
          <p className="invite-hint" data-testid="invite-hint">
            You've been invited to a room. Sign in or pick a name, and you'll go straight there.
          </p>
        ) : (
          <p className="muted">Rooms to talk in, in real time. Pick a name to start.</p>
        )}
        <div className="segmented" role="tablist" aria-label="How to sign in">
          {(Object.keys(TITLES) as Mode[]).filter((m) => m !== "guest" || guestsAllowed).map((m) => (
            <button
              key={m}
              type="button"
              role="tab"
              aria-selected={mode === m}
              className={mode === m ? "active" : ""}
              onClick={() => {
                setMode(m);
                setError(null);
              }}
            >
              {TITLES[m]}
            </button>
          ))}
        </div>
        <label htmlFor={userId}>Username</label>
        <input
          id={userId}
          name="username"
          autoComplete="username"
          autoFocus
          required
          minLength={3}
          maxLength={32}
          pattern="[A-Za-z0-9_.\-]+"
          title="3–32 letters, digits, _ - ."
          value={username}
          onChange={(e) => setUsername(e.target.value)}
        />
        {mode !== "guest" && (
          <>
            <label htmlFor={passId}>Password</label>
            <input
              id={passId}
              name="password"
              type="password"
              autoComplete={mode === "register" ? "new-password" : "current-password"}
              required
              minLength={mode === "register" ? 8 : 1}
              value={password}
              onChange={(e) => setPassword(e.target.value)}
            />
          </>
        )}
        {error && (
          <p className="form-error" role="alert">
            {error}
          </p>
        )}
        <button className="btn primary wide" type="submit" disabled={busy}>
          {mode === "guest" ? "Continue as guest" : mode === "login" ? "Sign in" : "Create account"}
        </button>
        {mode === "guest" && config && (
          <p className="muted small guest-note" data-testid="guest-note">
            {guestGraceText(config.guest_name_grace_secs)}
          </p>
        )}
      </form>
    </main>
  );
}
