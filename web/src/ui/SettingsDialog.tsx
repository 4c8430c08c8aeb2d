import { useEffect, useId, useState, type FormEvent } from "react";
import { changePassword, claimName, deleteAccount, exportMyData, listSessions, loadMyProfile, revokeSession, saveProfile } from "../account";
import { describe } from "../chat";
import { browserTimeZone } from "../names";
import type { Session } from "../protocol";
import { useChat } from "../store";
import { relativeTime } from "../time";
import { Dialog } from "./Dialog";

type Tab = "profile" | "password" | "sessions" | "data";

/** Account settings: profile, password (or claiming a guest name), sessions, export and deletion. */
export function SettingsDialog({ onClose }: { onClose: () => void }) {
  const me = useChat((s) => s.me);
  const [tab, setTab] = useState<Tab>("profile");
  // Claiming a guest name turns the tab into "Password": the good news stays above it.
  const [claimed, setClaimed] = useState<string | null>(null);
  if (!me) return null;
  const tabs: { value: Tab; label: string }[] = [
    { value: "profile", label: "Profile" },
    { value: "password", label: me.guest ? "Keep name" : "Password" },
    { value: "sessions", label: "Sessions" },
    { value: "data", label: "Your data" },
  ];
  return (
    <Dialog title="Account settings" onClose={onClose} wide>
      <div className="settings" data-testid="settings">
        <div className="segmented" role="tablist" aria-label="Settings sections">
          {tabs.map((t) => (
            <button
              key={t.value}
              type="button"
              role="tab"
              aria-selected={tab === t.value}
              className={tab === t.value ? "active" : ""}
              onClick={() => setTab(t.value)}
            >
              {t.label}
            </button>
          ))}
        </div>
        <div className="settings-body" role="tabpanel">
          {claimed && (
            <p className="form-ok" role="status">
              {claimed}
            </p>
          )}
          {tab === "profile" && <ProfileTab />}
          {tab === "password" && (me.guest ? <ClaimTab onClaimed={setClaimed} /> : <PasswordTab />)}
          {tab === "sessions" && <SessionsTab />}
          {tab === "data" && <DataTab guest={me.guest} />}
        </div>
        <div className="dialog-actions">
          <button className="btn ghost" onClick={onClose}>
            Close
          </button>
        </div>
      </div>
    </Dialog>
  );
}

function Status({ error, done }: { error: string | null; done: string | null }) {
  if (error) {
    return (
      <p className="form-error" role="alert">
        {error}
      </p>
    );
  }
  if (done) {
    return (
      <p className="form-ok" role="status">
        {done}
      </p>
    );
  }
  return null;
}

function timeZones(): string[] {
  const intl = Intl as unknown as { supportedValuesOf?: (key: string) => string[] };
  try {
    return intl.supportedValuesOf?.("timeZone") ?? [];
  } catch {
    return [];
  }
}

function ProfileTab() {
  const me = useChat((s) => s.me);
  const [displayName, setDisplayName] = useState(me?.display_name ?? "");
  const [bio, setBio] = useState("");
  const [timezone, setTimezone] = useState(browserTimeZone() ?? "");
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const nameId = useId();
  const bioId = useId();
  const tzId = useId();
  const zonesId = useId();
  const [zones] = useState(timeZones);

  useEffect(() => {
    let cancelled = false;
    loadMyProfile().then(
      (p) => {
        if (cancelled || !p) return;
        setDisplayName(p.user.display_name ?? "");
        setBio(p.bio ?? "");
        if (p.timezone) setTimezone(p.timezone);
        setLoaded(true);
      },
      () => !cancelled && setLoaded(true),
    );
    return () => {
      cancelled = true;
    };
  }, []);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      await saveProfile({ display_name: displayName.trim() || null, bio: bio.trim(), timezone: timezone.trim() || null });
      setDone("Saved.");
    } catch (err) {
      setError(describe(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="stack" onSubmit={submit} aria-busy={!loaded}>
      <label htmlFor={nameId}>Display name</label>
      <input
        id={nameId}
        maxLength={64}
        placeholder={me?.username}
        value={displayName}
        // Editable once the saved profile is in: it would overwrite what was typed before.
        disabled={!loaded}
        onChange={(e) => setDisplayName(e.target.value)}
      />
      <span className="muted small">Shown instead of @{me?.username}. Leave empty to use your username.</span>
      <label htmlFor={bioId}>About you</label>
      <textarea id={bioId} rows={3} maxLength={500} value={bio} disabled={!loaded} onChange={(e) => setBio(e.target.value)} />
      <span className="muted small">{500 - [...bio].length} characters left</span>
      <label htmlFor={tzId}>Time zone</label>
      <input
        id={tzId}
        list={zonesId}
        maxLength={64}
        value={timezone}
        disabled={!loaded}
        onChange={(e) => setTimezone(e.target.value)}
      />
      <datalist id={zonesId}>
        {zones.map((z) => (
          <option key={z} value={z} />
        ))}
      </datalist>
      <span className="muted small">Others see your local time on your profile.</span>
      <Status error={error} done={done} />
      <div className="dialog-actions">
        <button className="btn primary" type="submit" disabled={busy || !loaded}>
          Save profile
        </button>
      </div>
    </form>
  );
}

function PasswordTab() {
  const username = useChat((s) => s.me?.username ?? "");
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const currentId = useId();
  const nextId = useId();

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      await changePassword(current, next);
      setCurrent("");
      setNext("");
      setDone("Password changed. Your other sessions were signed out.");
    } catch (err) {
      setError(describe(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="stack" onSubmit={submit}>
      <input type="text" name="username" autoComplete="username" value={username} readOnly hidden />
      <label htmlFor={currentId}>Current password</label>
      <input id={currentId} type="password" autoComplete="current-password" required value={current} onChange={(e) => setCurrent(e.target.value)} />
      <label htmlFor={nextId}>New password</label>
      <input id={nextId} type="password" autoComplete="new-password" required minLength={8} value={next} onChange={(e) => setNext(e.target.value)} />
      <span className="muted small">At least 8 characters. Every other session is signed out.</span>
      <Status error={error} done={done} />
      <div className="dialog-actions">
        <button className="btn primary" type="submit" disabled={busy || !current || next.length < 8}>
          Change password
        </button>
      </div>
    </form>
  );
}

function ClaimTab({ onClaimed }: { onClaimed: (note: string) => void }) {
  const grace = useChat((s) => s.config?.guest_name_grace_secs);
  const me = useChat((s) => s.me);
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const passId = useId();

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const name = me?.username;
      await claimName(password);
      onClaimed(`@${name} is yours now: sign in with it and this password any time.`);
    } catch (err) {
      setError(describe(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="stack" onSubmit={submit}>
      <p className="muted">
        You're signed in as a guest.{" "}
        {grace !== undefined ? `Your name is freed ${Math.round(grace / 60)} minutes after you sign out.` : "Your name is freed after you sign out."} Set a
        password to keep <strong>@{me?.username}</strong> as your account.
      </p>
      <input type="text" name="username" autoComplete="username" value={me?.username ?? ""} readOnly hidden />
      <label htmlFor={passId}>Password</label>
      <input id={passId} type="password" autoComplete="new-password" required minLength={8} value={password} onChange={(e) => setPassword(e.target.value)} />
      <Status error={error} done={null} />
      <div className="dialog-actions">
        <button className="btn primary" type="submit" disabled={busy || password.length < 8}>
          Keep this name
        </button>
      </div>
    </form>
  );
}

/** "just now", "5m ago", "on Tue", "on 12 Mar". */
function ago(iso: string, now: number): string {
  const rel = relativeTime(iso, now);
  if (rel === "now") return "just now";
  return /^\d+[mh]$/.test(rel) ? `${rel} ago` : `on ${rel}`;
}

function SessionsTab() {
  const [sessions, setSessions] = useState<Session[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const now = Date.now();

  useEffect(() => {
    let cancelled = false;
    listSessions().then(
      (list) => !cancelled && setSessions(list),
      (err) => !cancelled && setError(describe(err)),
    );
    return () => {
      cancelled = true;
    };
  }, []);

  async function revoke(id: string) {
    setError(null);
    try {
      await revokeSession(id);
      setSessions((list) => list?.filter((s) => s.id !== id) ?? null);
    } catch (err) {
      setError(describe(err));
    }
  }

  return (
    <div className="stack">
      <p className="muted small">Everywhere you're signed in. Revoking a session signs that device out at once.</p>
      {sessions === null && !error && <p className="muted">Loading…</p>}
      <ul className="session-list">
        {sessions?.map((s) => (
          <li key={s.id} data-testid="session">
            <div>
              <strong>{s.current ? "This browser" : "Another session"}</strong>
              <span className="muted small">
                Signed in {ago(s.created_at, now)} {s.last_seen_at ? ` · last active ${ago(s.last_seen_at, now)}` : ""}
              </span>
            </div>
            {s.current ? (
              <span className="tag">current</span>
            ) : (
              <button className="btn ghost small danger-text" onClick={() => void revoke(s.id)}>
                Revoke
              </button>
            )}
          </li>
        ))}
      </ul>
      <Status error={error} done={null} />
    </div>
  );
}

function DataTab({ guest }: { guest: boolean }) {
  const [password, setPassword] = useState("");
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const passId = useId();

  async function exportData() {
    setError(null);
    try {
      await exportMyData();
    } catch (err) {
      setError(describe(err));
    }
  }

  async function remove(e: FormEvent) {
    e.preventDefault();
    if (!confirming) {
      setConfirming(true);
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await deleteAccount(password);
    } catch (err) {
      setError(describe(err));
      setBusy(false);
    }
  }

  return (
    <div className="stack">
      <h3 className="settings-h">Export</h3>
      <p className="muted small">Download your profile and everything you wrote, as a JSON file.</p>
      <div>
        <button className="btn ghost" onClick={() => void exportData()}>
          Export my data
        </button>
      </div>
      {!guest && (
        <form className="stack danger-zone" onSubmit={remove}>
          <h3 className="settings-h">Delete account</h3>
          <p className="muted small">Your account is deleted and you are signed out everywhere. This can't be undone.</p>
          <label htmlFor={passId}>Password</label>
          <input id={passId} type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
          {confirming && <p className="form-error">Are you sure? Press the button again to delete your account for good.</p>}
          <div className="dialog-actions">
            {confirming && (
              <button type="button" className="btn ghost" onClick={() => setConfirming(false)}>
                Cancel
              </button>
            )}
            <button className="btn danger" type="submit" disabled={busy || !password}>
              {confirming ? "Yes, delete my account" : "Delete account…"}
            </button>
          </div>
        </form>
      )}
      <Status error={error} done={null} />
    </div>
  );
}
