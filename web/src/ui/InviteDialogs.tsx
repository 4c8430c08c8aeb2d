import { useEffect, useId, useState } from "react";
import { ApiError } from "../api";
import { describe } from "../chat";
import { inviteLink } from "../names";
import { acceptInvite, createInvite, dismissInvite, lookupInvite } from "../people";
import type { InviteInfo, Room } from "../protocol";
import { Dialog } from "./Dialog";
import { CheckIcon, LinkIcon, LockIcon } from "./icons";

const EXPIRY: { value: string; label: string }[] = [
  { value: "3600", label: "1 hour" },
  { value: "86400", label: "1 day" },
  { value: "604800", label: "7 days" },
  { value: "", label: "Never" },
];
const USES: { value: string; label: string }[] = [
  { value: "1", label: "1 person" },
  { value: "5", label: "5 people" },
  { value: "25", label: "25 people" },
  { value: "", label: "No limit" },
];

/** Moderators make an invite link for a room and copy it. */
export function CreateInviteDialog({ room, onClose }: { room: Room; onClose: () => void }) {
  const [expiry, setExpiry] = useState("604800");
  const [uses, setUses] = useState("");
  const [link, setLink] = useState<string | null>(null);
  const [copied, setCopied] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const expiryId = useId();
  const usesId = useId();
  const linkId = useId();

  async function create() {
    setBusy(true);
    setError(null);
    try {
      const invite = await createInvite(room.id, {
        ...(expiry ? { expires_in_secs: Number(expiry) } : {}),
        ...(uses ? { max_uses: Number(uses) } : {}),
      });
      setLink(inviteLink(location.origin, invite.url));
      setCopied(false);
    } catch (err) {
      setError(describe(err));
    } finally {
      setBusy(false);
    }
  }

  async function copy() {
    if (!link) return;
    try {
      await navigator.clipboard.writeText(link);
      setCopied(true);
    } catch {
      // No clipboard permission: the link is selected for a manual copy instead.
      (document.getElementById(linkId) as HTMLInputElement | null)?.select();
    }
  }

  return (
    <Dialog title={`Invite people to ${room.name}`} onClose={onClose}>
      <p className="muted small dialog-lead">
        {room.kind === "private"
          ? "Anyone with the link can join this private room while the link is valid."
          : "Share a link that brings people straight into this room."}
      </p>
      <div className="invite-options">
        <div>
          <label htmlFor={expiryId}>Expires after</label>
          <select id={expiryId} value={expiry} onChange={(e) => setExpiry(e.target.value)}>
            {EXPIRY.map((o) => (
              <option key={o.value} value={o.value}>
                {o.label}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label htmlFor={usesId}>Can be used by</label>
          <select id={usesId} value={uses} onChange={(e) => setUses(e.target.value)}>
            {USES.map((o) => (
              <option key={o.value} value={o.value}>
                {o.label}
              </option>
            ))}
          </select>
        </div>
      </div>
      {link && (
        <>
          <label htmlFor={linkId}>Invite link</label>
          <div className="copy-row">
            <input id={linkId} readOnly value={link} data-testid="invite-link" onFocus={(e) => e.currentTarget.select()} />
            <button className="btn primary" onClick={() => void copy()}>
              {copied ? <CheckIcon size={14} /> : null}
              {copied ? "Copied" : "Copy"}
            </button>
          </div>
        </>
      )}
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      <div className="dialog-actions">
        <button className="btn ghost" onClick={onClose}>
          Done
        </button>
        <button className={`btn ${link ? "ghost" : "primary"}`} disabled={busy} onClick={() => void create()}>
          <LinkIcon size={14} /> {link ? "New link" : "Create link"}
        </button>
      </div>
    </Dialog>
  );
}

/** Opened with `/invite/{code}`: what the room is, and a Join button. */
export function JoinInviteDialog({ code }: { code: string }) {
  const [info, setInfo] = useState<InviteInfo | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    let cancelled = false;
    lookupInvite(code).then(
      (i) => !cancelled && setInfo(i),
      (err) => {
        if (cancelled) return;
        if (err instanceof ApiError && err.code === "invite_expired") setProblem("This invite has expired or has been used up. Ask for a new link.");
        else if (err instanceof ApiError && err.status === 404) setProblem("This invite link isn't valid. Check that you copied all of it.");
        else setProblem(describe(err));
      },
    );
    return () => {
      cancelled = true;
    };
  }, [code]);

  async function join() {
    setBusy(true);
    setError(null);
    try {
      await acceptInvite(code);
    } catch (err) {
      setError(describe(err));
      setBusy(false);
    }
  }

  const room = info?.room;
  return (
    <Dialog title={room ? `Join ${room.name}` : "Invitation"} onClose={dismissInvite}>
      <div className="invite-card" data-testid="invite">
        {room ? (
          <>
            <div className="invite-room">
              <span className="invite-mark" aria-hidden="true">
                {room.kind === "private" ? <LockIcon size={20} /> : "#"}
              </span>
              <div>
                <strong data-testid="invite-room">{room.name}</strong>
                <span className="muted small">
                  {room.kind === "private" ? "Private room" : "Public room"} · {room.member_count} member{room.member_count === 1 ? "" : "s"}
                </span>
              </div>
            </div>
            {room.topic && <p className="muted">{room.topic}</p>}
            <p className="muted small">You've been invited to join this room.</p>
          </>
        ) : problem ? (
          <p className="form-error" role="alert" data-testid="invite-problem">
            {problem}
          </p>
        ) : (
          <p className="muted">Looking up the invitation…</p>
        )}
        {error && (
          <p className="form-error" role="alert">
            {error}
          </p>
        )}
        <div className="dialog-actions">
          <button className="btn ghost" onClick={dismissInvite}>
            {room ? "Not now" : "Close"}
          </button>
          {room && (
            <button className="btn primary" disabled={busy} onClick={() => void join()} autoFocus>
              Join
            </button>
          )}
        </div>
      </div>
    </Dialog>
  );
}
