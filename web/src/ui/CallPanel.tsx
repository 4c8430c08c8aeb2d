/**
 * Calls (#13) in the room: who is in the room's call (seen by everyone in the room), the tiles
 * and controls of the call this person is in, the header's Start/Join button, the incoming-call
 * banner of a DM, and the bar that leads back to a call running in another room.
 */
import { useEffect, useRef } from "react";
import {
  dismissNotice,
  dismissRing,
  joinCall,
  leaveCall,
  MAX_CALL,
  toggleCamera,
  toggleMute,
  toggleScreen,
  useCalls,
} from "../calls";
import { selectRoom } from "../chat";
import { displayName, roomTitle } from "../names";
import type { User } from "../protocol";
import { useChat } from "../store";
import { MicIcon, MicOffIcon, PhoneIcon, PhoneOffIcon, ScreenIcon, VideoIcon, VideoOffIcon } from "./icons";

/** The room header's button: "Start call", "Join call (N)", or nothing while in this call. */
export function CallButton({ roomId }: { roomId: string }) {
  const people = useCalls((s) => s.calls[roomId]);
  const here = useCalls((s) => s.roomId === roomId);
  if (here) return null;
  const count = people?.length ?? 0;
  const full = count >= MAX_CALL;
  const label = count > 0 ? `Join call (${count})` : "Start call";
  return (
    <button
      className="btn ghost small call-toggle"
      aria-label={label}
      onClick={() => void joinCall(roomId)}
      disabled={full}
      title={full ? `This call is full (${MAX_CALL} people)` : undefined}
      data-testid="call-start"
    >
      <PhoneIcon size={16} /> <span className="call-label">{label}</span>
    </button>
  );
}

/** The room's call, above the conversation: the whole call when this person is in it, else who
 * is in it. */
export function CallPanel({ roomId }: { roomId: string }) {
  const people = useCalls((s) => s.calls[roomId]) ?? [];
  const here = useCalls((s) => s.roomId === roomId);
  const notice = useCalls((s) => s.notice);
  const me = useChat((s) => s.me);
  const noticeShown = notice && (here || people.length > 0 || notice.includes("full"));
  if (!here && people.length === 0 && !noticeShown) return null;
  return (
    <section className={`call-panel${here ? " in-call" : ""}`} aria-label="Call" data-testid="call-panel">
      {noticeShown && (
        <div className="call-notice" role="alert">
          <span>{notice}</span>
          <button className="icon-btn" aria-label="Dismiss" onClick={dismissNotice}>
            ×
          </button>
        </div>
      )}
      {here ? (
        <InCall me={me} />
      ) : (
        people.length > 0 && (
          <p className="call-who" data-testid="call-who">
            <PhoneIcon size={14} /> In the call: {people.map((u) => displayName(u)).join(", ")}
          </p>
        )
      )}
    </section>
  );
}

function InCall({ me }: { me: User | null }) {
  const local = useCalls((s) => s.local);
  const remotes = useCalls((s) => s.remotes);
  const muted = useCalls((s) => s.muted);
  const cameraOff = useCalls((s) => s.cameraOff);
  const sharing = useCalls((s) => s.sharing);
  const inCall = useCalls((s) => s.inCall);
  const hasCamera = !!local?.getVideoTracks().length;
  const hasMic = !!local?.getAudioTracks().length;
  const tiles = Object.values(remotes);
  return (
    <>
      <ul className={`call-tiles n${Math.min(tiles.length + 1, MAX_CALL)}`} data-testid="call-tiles">
        <li className="call-tile mine">
          <Video stream={local} muted label={`${me ? displayName(me) : "You"} (you)`} hidden={(cameraOff && !sharing) || !hasCamera} />
        </li>
        {tiles.map((t) => (
          <li key={t.user.id} className="call-tile" data-state={t.state} data-testid="call-tile">
            <Video stream={t.stream} label={displayName(t.user)} tracks={t.tracks} />
            {t.state !== "connected" && <span className="call-state">{t.state === "failed" ? "reconnecting…" : "connecting…"}</span>}
          </li>
        ))}
      </ul>
      {!inCall && <p className="call-who muted">Joining…</p>}
      <div className="call-controls" role="toolbar" aria-label="Call controls">
        <button className={`call-ctl${muted ? " off" : ""}`} aria-label={muted ? "Unmute" : "Mute"} aria-pressed={muted} onClick={toggleMute} disabled={!hasMic}>
          {muted ? <MicOffIcon size={20} /> : <MicIcon size={20} />}
        </button>
        <button
          className={`call-ctl${cameraOff ? " off" : ""}`}
          aria-label={cameraOff ? "Turn camera on" : "Turn camera off"}
          aria-pressed={cameraOff}
          onClick={toggleCamera}
          disabled={!hasCamera}
        >
          {cameraOff ? <VideoOffIcon size={20} /> : <VideoIcon size={20} />}
        </button>
        <button
          className={`call-ctl${sharing ? " on" : ""}`}
          aria-label={sharing ? "Stop sharing screen" : "Share screen"}
          aria-pressed={sharing}
          onClick={() => void toggleScreen()}
        >
          <ScreenIcon size={20} />
        </button>
        <button className="call-ctl leave" aria-label="Leave call" onClick={leaveCall}>
          <PhoneOffIcon size={20} />
        </button>
      </div>
    </>
  );
}

function Video({ stream, muted = false, label, hidden = false, tracks }: { stream: MediaStream | null; muted?: boolean; label: string; hidden?: boolean; tracks?: number }) {
  const ref = useRef<HTMLVideoElement>(null);
  useEffect(() => {
    const video = ref.current;
    if (video && video.srcObject !== stream) video.srcObject = stream;
    // A track added to the stream later (the other side's video after its audio) plays too.
    if (video && stream) void video.play().catch(() => undefined);
  }, [stream, tracks]);
  return (
    <>
      <video ref={ref} autoPlay playsInline muted={muted} className={hidden ? "call-video blank" : "call-video"} />
      <span className="call-name">{label}</span>
    </>
  );
}

/** A DM's call rings for the other person: Join or Dismiss. */
export function IncomingCall() {
  const ringing = useCalls((s) => s.ringing);
  const people = useCalls((s) => (s.ringing ? s.calls[s.ringing] : undefined));
  const room = useChat((s) => (ringing ? s.rooms[ringing] : undefined));
  const me = useChat((s) => s.me);
  if (!ringing || !people?.length) return null;
  const caller = people.map((u) => displayName(u)).join(", ");
  return (
    <div className="incoming-call" role="alertdialog" aria-label="Incoming call" data-testid="incoming-call">
      <PhoneIcon size={18} />
      <span>
        <strong>{caller}</strong> {room ? `· ${roomTitle(room, me)}` : ""} is calling
      </span>
      <button
        className="btn primary small"
        onClick={() => {
          void selectRoom(ringing);
          void joinCall(ringing);
        }}
      >
        Join
      </button>
      <button className="btn ghost small" onClick={dismissRing}>
        Dismiss
      </button>
    </div>
  );
}

/** While in a call of another room than the one shown: the way back, and Leave. */
export function CallElsewhere() {
  const callRoom = useCalls((s) => s.roomId);
  const active = useChat((s) => s.activeRoomId);
  const room = useChat((s) => (callRoom ? s.rooms[callRoom] : undefined));
  const me = useChat((s) => s.me);
  if (!callRoom || callRoom === active) return null;
  return (
    <div className="call-elsewhere" role="status">
      <PhoneIcon size={14} />
      <span>In a call{room ? ` in ${room.kind === "direct" ? roomTitle(room, me) : `#${room.name}`}` : ""}</span>
      <button className="btn ghost small" onClick={() => void selectRoom(callRoom)}>
        Back to call
      </button>
      <button className="btn ghost small" aria-label="Leave call" onClick={leaveCall}>
        Leave
      </button>
    </div>
  );
}
