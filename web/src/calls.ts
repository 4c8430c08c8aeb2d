/**
 * Calls (#13): audio, video and screen share, browser to browser over WebRTC.
 *
 * A full mesh: one RTCPeerConnection per other participant (at most 6 people). The server only
 * relays signalling (`call.signal`) among the call's participants and tells everyone subscribed
 * to a room who is in its call (`call.state`). Negotiation follows the "perfect negotiation"
 * pattern: both sides add their tracks and offer when needed; on a collision the polite side
 * (the one whose user id sorts higher) rolls back and answers, the impolite one ignores the
 * other's offer. ICE restarts when a connection fails or stays disconnected, and when the
 * browser comes back online.
 *
 * What the screen shows lives in `useCalls`; sockets, peer connections and media live here. The
 * call's room is kept in sessionStorage, so a reload joins it again; a dropped socket rejoins on
 * its own (the connection sends `call.join` again after resubscribing).
 */
import { create } from "zustand";
import type { Api } from "./api";
import type { Connection } from "./connection";
import type { IceServer, User } from "./protocol";
import { chime } from "./sound";

/** Most people in one call (the server answers `call_full` past it). */
export const MAX_CALL = 6;
export const PERMISSION_TEXT =
  "Palaver can't use your camera or microphone: allow them in the browser's site settings";
export const FULL_TEXT = `This call is full (${MAX_CALL} people)`;
export const MOVED_TEXT = "You joined this call on another tab or device";

export type RemoteTile = {
  user: User;
  stream: MediaStream;
  state: RTCPeerConnectionState;
  /** Bumped when a track arrives, so the tile re-renders. */
  tracks: number;
};

export type CallsState = {
  /** room id → who is in its call, as last told (absent or empty: no call). */
  calls: Record<string, User[]>;
  /** The room whose call this tab is in. */
  roomId: string | null;
  /** The server has listed this person in that call. */
  inCall: boolean;
  local: MediaStream | null;
  muted: boolean;
  cameraOff: boolean;
  sharing: boolean;
  /** user id → the other participants' media. */
  remotes: Record<string, RemoteTile>;
  /** What went wrong last (permissions, full call), shown in the room. */
  notice: string | null;
  /** A DM whose call rings for this person (they are not in it). */
  ringing: string | null;
  dismissed: string[];
};

const empty: Omit<CallsState, "calls" | "ringing" | "dismissed"> = {
  roomId: null,
  inCall: false,
  local: null,
  muted: false,
  cameraOff: false,
  sharing: false,
  remotes: {},
  notice: null,
};

export const useCalls = create<CallsState>(() => ({ ...empty, calls: {}, ringing: null, dismissed: [] }));
const set = useCalls.setState;
const get = useCalls.getState;

type Peer = {
  user: User;
  pc: RTCPeerConnection;
  polite: boolean;
  makingOffer: boolean;
  ignoreOffer: boolean;
  stream: MediaStream;
  /** Signals are handled one after another. */
  chain: Promise<void>;
  restartTimer: ReturnType<typeof setTimeout> | null;
};

type Deps = { conn: Connection; api: Api; me: User; isDirect: (roomId: string) => boolean };

let deps: Deps | null = null;
const peers = new Map<string, Peer>();
let iceServers: RTCIceServer[] = [];
let cameraTrack: MediaStreamTrack | null = null;
let screenTrack: MediaStreamTrack | null = null;
let ringTimer: ReturnType<typeof setInterval> | null = null;

const CALL_KEY = "palaver.call";

function rememberCall(roomId: string | null): void {
  try {
    if (roomId) sessionStorage.setItem(CALL_KEY, roomId);
    else sessionStorage.removeItem(CALL_KEY);
  } catch {
    // No session storage: a reload just doesn't rejoin.
  }
}

function rememberedCall(): string | null {
  try {
    return sessionStorage.getItem(CALL_KEY);
  } catch {
    return null;
  }
}

/** The session started: calls go over this connection. A call this tab was in before a reload
 * is joined again once `roomReady` says its room is followed. */
export function attachCalls(d: Deps): void {
  deps = d;
  const again = rememberedCall();
  if (again) void joinCall(again);
}

/** The session ended (sign-out): leave everything here. */
export function detachCalls(): void {
  teardown();
  rememberCall(null);
  stopRinging();
  deps = null;
  useCalls.setState({ calls: {}, ringing: null, dismissed: [] });
}

/** Start the room's call, or join the one running. */
export async function joinCall(roomId: string): Promise<void> {
  if (!deps) return;
  const current = get().roomId;
  if (current === roomId) return;
  if (current) leaveCall();
  stopRinging();
  set({ ...empty, roomId, ringing: null });
  rememberCall(roomId);
  const { api } = deps;
  const [servers, media] = await Promise.all([
    api.iceServers().catch(() => [] as IceServer[]),
    openMedia(),
  ]);
  if (get().roomId !== roomId || !deps) {
    media.stream?.getTracks().forEach((t) => t.stop());
    return;
  }
  iceServers = servers.map((s) => ({ urls: s.urls, username: s.username, credential: s.credential }));
  cameraTrack = media.stream?.getVideoTracks()[0] ?? null;
  set({ local: media.stream, notice: media.notice, cameraOff: !cameraTrack });
  deps.conn.joinCall(roomId);
}

/** The camera's size and rate: each person sends their video to every other (up to 5 copies),
 * so a modest 360p at most 24 frames a second keeps a full call within a home uplink. */
const VIDEO: MediaTrackConstraints = { width: { ideal: 640 }, height: { ideal: 360 }, frameRate: { ideal: 24, max: 24 } };

/** Camera and microphone, or the microphone alone, or nothing (then the person still hears and
 * sees the others). */
async function openMedia(): Promise<{ stream: MediaStream | null; notice: string | null }> {
  if (!navigator.mediaDevices?.getUserMedia) {
    return { stream: null, notice: "This browser can't capture a camera or microphone here (it needs HTTPS)" };
  }
  try {
    return { stream: await navigator.mediaDevices.getUserMedia({ audio: true, video: VIDEO }), notice: null };
  } catch (err) {
    if (isDenied(err)) return { stream: null, notice: PERMISSION_TEXT };
  }
  try {
    // No camera (or it is busy): the microphone alone.
    return { stream: await navigator.mediaDevices.getUserMedia({ audio: true }), notice: null };
  } catch (err) {
    return { stream: null, notice: isDenied(err) ? PERMISSION_TEXT : "No camera or microphone was found: you can listen and watch" };
  }
}

function isDenied(err: unknown): boolean {
  return err instanceof DOMException && (err.name === "NotAllowedError" || err.name === "SecurityError");
}

export function leaveCall(): void {
  deps?.conn.leaveCall();
  rememberCall(null);
  teardown();
}

/** Closes every peer connection and stops this tab's media. */
function teardown(): void {
  for (const id of [...peers.keys()]) closePeer(id);
  get().local?.getTracks().forEach((t) => t.stop());
  screenTrack?.stop();
  cameraTrack = null;
  screenTrack = null;
  set({ ...empty });
}

// ---- what the server says -------------------------------------------------------------------

export function onCallState(roomId: string, participants: User[]): void {
  const before = get().calls[roomId] ?? [];
  const calls = { ...get().calls };
  if (participants.length === 0) delete calls[roomId];
  else calls[roomId] = participants;
  set({ calls });
  ring(roomId, before, participants);
  if (roomId !== get().roomId || !deps) return;
  const me = deps.me;
  const listed = participants.some((u) => u.id === me.id);
  const wasIn = get().inCall;
  if (listed && !wasIn) set({ inCall: true });
  const others = participants.filter((u) => u.id !== me.id);
  for (const id of [...peers.keys()]) if (!others.some((u) => u.id === id)) closePeer(id);
  if (!listed) return;
  // Who offers first: whoever was in the call already offers to a newcomer, and the newcomer
  // answers (it makes the peer when the offer comes). Both offering at once works too (perfect
  // negotiation) but Chromium then sometimes never gathers candidates for the rolled-back side.
  // Should no offer come (two people joining at once on two nodes), the newcomer offers itself.
  for (const user of others) {
    if (peers.has(user.id)) continue;
    if (wasIn) createPeer(user, me);
    else setTimeout(() => offerIfSilent(roomId, user), NEWCOMER_WAIT_MS);
  }
}

/** How long a newcomer waits for the others' offers before offering itself. */
const NEWCOMER_WAIT_MS = 3000;

function offerIfSilent(roomId: string, user: User): void {
  if (!deps || get().roomId !== roomId || !get().inCall || peers.has(user.id)) return;
  if (!get().calls[roomId]?.some((u) => u.id === user.id)) return;
  createPeer(user, deps.me);
}

export function onCallSignal(roomId: string, from: string, data: unknown): void {
  if (roomId !== get().roomId || !deps) return;
  let peer = peers.get(from);
  if (!peer) {
    const user = get().calls[roomId]?.find((u) => u.id === from) ?? placeholder(from);
    peer = createPeer(user, deps.me);
  }
  const p = peer;
  p.chain = p.chain.then(() => handleSignal(p, data)).catch((err) => console.warn("call signalling", err));
}

/** An error frame about calls: true when it was one (and is handled). */
export function onCallError(code: string): boolean {
  switch (code) {
    case "call_full":
      deps?.conn.forgetCall();
      rememberCall(null);
      teardown();
      set({ notice: FULL_TEXT });
      return true;
    case "call_moved":
      deps?.conn.forgetCall();
      rememberCall(null);
      teardown();
      set({ notice: MOVED_TEXT });
      return true;
    case "not_in_call":
      // A signal raced a leave: the next call.state sorts the peers out.
      return true;
    default:
      return false;
  }
}

/** The socket reconnected: the server dropped this tab from the call with the old socket, and
 * the others closed their side. Start the peers over once the rejoin is answered. */
export function onReconnect(): void {
  if (!get().roomId) return;
  for (const id of [...peers.keys()]) closePeer(id);
  set({ inCall: false });
}

/** The room is gone for this person (kicked, banned, left, deleted): so is its call. */
export function onRoomGone(roomId: string): void {
  const calls = { ...get().calls };
  delete calls[roomId];
  set({ calls });
  if (get().ringing === roomId) stopRinging();
  if (get().roomId === roomId) {
    deps?.conn.forgetCall();
    rememberCall(null);
    teardown();
  }
}

export function dismissNotice(): void {
  set({ notice: null });
}

// ---- ringing (DMs) --------------------------------------------------------------------------

function ring(roomId: string, before: User[], now: User[]): void {
  const me = deps?.me;
  if (!me || !deps?.isDirect(roomId)) return;
  const ringing = get().ringing === roomId;
  const mine = now.some((u) => u.id === me.id);
  if (now.length === 0 || mine || get().roomId === roomId) {
    if (ringing) stopRinging();
    if (now.length === 0) set({ dismissed: get().dismissed.filter((id) => id !== roomId) });
    return;
  }
  if (before.length === 0 && !ringing && !get().dismissed.includes(roomId) && !get().roomId) {
    set({ ringing: roomId });
    chime();
    if (ringTimer) clearInterval(ringTimer);
    ringTimer = setInterval(chime, 2500);
  }
}

function stopRinging(): void {
  if (ringTimer) clearInterval(ringTimer);
  ringTimer = null;
  if (get().ringing) set({ ringing: null });
}

export function dismissRing(): void {
  const roomId = get().ringing;
  stopRinging();
  if (roomId) set({ dismissed: [...get().dismissed, roomId] });
}

// ---- controls -------------------------------------------------------------------------------

export function toggleMute(): void {
  const muted = !get().muted;
  get().local?.getAudioTracks().forEach((t) => (t.enabled = !muted));
  set({ muted });
}

export function toggleCamera(): void {
  if (!cameraTrack) return;
  const cameraOff = !get().cameraOff;
  cameraTrack.enabled = !cameraOff;
  set({ cameraOff });
}

/** Share the screen in place of the camera (the same video sender: no renegotiation), or stop. */
export async function toggleScreen(): Promise<void> {
  if (screenTrack) {
    stopScreen();
    return;
  }
  if (!navigator.mediaDevices?.getDisplayMedia) {
    set({ notice: "This browser can't share its screen" });
    return;
  }
  let stream: MediaStream;
  try {
    stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
  } catch (err) {
    if (!(err instanceof DOMException && err.name === "AbortError")) {
      set({ notice: isDenied(err) ? "Screen sharing was not allowed" : "The screen could not be shared" });
    }
    return;
  }
  if (!get().roomId) {
    stream.getTracks().forEach((t) => t.stop());
    return;
  }
  screenTrack = stream.getVideoTracks()[0] ?? null;
  if (!screenTrack) return;
  // The browser's own "Stop sharing" button ends the track.
  screenTrack.onended = () => stopScreen();
  await Promise.all([...peers.values()].map((p) => videoSender(p)?.replaceTrack(screenTrack)));
  set({ sharing: true });
}

function stopScreen(): void {
  const track = screenTrack;
  screenTrack = null;
  track?.stop();
  for (const p of peers.values()) void videoSender(p)?.replaceTrack(cameraTrack);
  set({ sharing: false });
}

/** What this tab sends as video now: the screen while sharing, else the camera. */
function currentVideo(): MediaStreamTrack | null {
  return screenTrack ?? cameraTrack;
}

function videoSender(peer: Peer): RTCRtpSender | undefined {
  return peer.pc.getTransceivers().find((t) => t.receiver.track.kind === "video" && t.currentDirection !== "stopped")?.sender;
}

// ---- peer connections -----------------------------------------------------------------------

function placeholder(id: string): User {
  return { id, username: id, guest: false, admin: false, display_name: null, bot: false };
}

function createPeer(user: User, me: User): Peer {
  const pc = new RTCPeerConnection({ iceServers });
  const stream = new MediaStream();
  const peer: Peer = {
    user,
    pc,
    polite: me.id > user.id,
    makingOffer: false,
    ignoreOffer: false,
    stream,
    chain: Promise.resolve(),
    restartTimer: null,
  };
  peers.set(user.id, peer);
  const local = get().local;
  const audio = local?.getAudioTracks()[0];
  const video = currentVideo();
  // A sender for each kind even without a device: the other side's media still comes, and a
  // screen share later replaces the (empty) video sender's track.
  if (audio && local) pc.addTrack(audio, local);
  else pc.addTransceiver("audio", { direction: "sendrecv" });
  if (video && local) pc.addTrack(video, local);
  else if (video) pc.addTrack(video);
  else pc.addTransceiver("video", { direction: "sendrecv" });

  pc.onnegotiationneeded = async () => {
    try {
      peer.makingOffer = true;
      await pc.setLocalDescription();
      if (pc.localDescription) signal(user.id, { description: pc.localDescription.toJSON() });
    } catch (err) {
      console.warn("call negotiation", err);
    } finally {
      peer.makingOffer = false;
    }
  };
  pc.onicecandidate = ({ candidate }) => {
    if (candidate) signal(user.id, { candidate: candidate.toJSON() });
  };
  pc.ontrack = ({ track }) => {
    if (!stream.getTracks().includes(track)) stream.addTrack(track);
    updateRemote(peer);
  };
  pc.oniceconnectionstatechange = () => {
    const state = pc.iceConnectionState;
    if (state === "failed") pc.restartIce();
    if (state === "disconnected" && !peer.restartTimer) {
      // Often recovers by itself (a brief loss); if not, restart ICE.
      peer.restartTimer = setTimeout(() => {
        peer.restartTimer = null;
        if (pc.iceConnectionState === "disconnected") pc.restartIce();
      }, 3000);
    }
  };
  pc.onconnectionstatechange = () => updateRemote(peer);
  updateRemote(peer);
  return peer;
}

async function handleSignal(peer: Peer, data: unknown): Promise<void> {
  const { pc } = peer;
  const { description, candidate } = (data ?? {}) as {
    description?: RTCSessionDescriptionInit;
    candidate?: RTCIceCandidateInit;
  };
  if (description) {
    const collision = description.type === "offer" && (peer.makingOffer || pc.signalingState !== "stable");
    peer.ignoreOffer = !peer.polite && collision;
    if (peer.ignoreOffer) return;
    await pc.setRemoteDescription(description);
    if (description.type === "offer") {
      await pc.setLocalDescription();
      if (pc.localDescription) signal(peer.user.id, { description: pc.localDescription.toJSON() });
    }
  } else if (candidate) {
    try {
      await pc.addIceCandidate(candidate);
    } catch (err) {
      if (!peer.ignoreOffer) throw err;
    }
  }
}

function signal(to: string, data: unknown): void {
  const roomId = get().roomId;
  if (roomId && deps) deps.conn.callSignal(roomId, to, data);
}

function updateRemote(peer: Peer): void {
  if (peers.get(peer.user.id) !== peer) return;
  const prev = get().remotes[peer.user.id];
  set({
    remotes: {
      ...get().remotes,
      [peer.user.id]: {
        user: peer.user,
        stream: peer.stream,
        state: peer.pc.connectionState,
        tracks: (prev?.tracks ?? 0) + 1,
      },
    },
  });
}

function closePeer(userId: string): void {
  const peer = peers.get(userId);
  if (!peer) return;
  peers.delete(userId);
  if (peer.restartTimer) clearTimeout(peer.restartTimer);
  peer.pc.onnegotiationneeded = null;
  peer.pc.onicecandidate = null;
  peer.pc.ontrack = null;
  peer.pc.oniceconnectionstatechange = null;
  peer.pc.onconnectionstatechange = null;
  peer.pc.close();
  const remotes = { ...get().remotes };
  delete remotes[userId];
  set({ remotes });
}

/** The network changed (the browser is back online): restart ICE on every connection. */
function onOnline(): void {
  for (const peer of peers.values()) peer.pc.restartIce();
}

if (typeof window !== "undefined") {
  window.addEventListener("online", onOnline);
  // A read-only window onto the real peer connections, for the browser tests and for
  // troubleshooting in the console: nothing here is faked.
  (window as unknown as { __palaverCalls: unknown }).__palaverCalls = {
    roomId: () => get().roomId,
    peers: () =>
      [...peers.values()].map((p) => ({
        username: p.user.username,
        connectionState: p.pc.connectionState,
        iceConnectionState: p.pc.iceConnectionState,
      })),
    inboundVideoBytes: async (username: string) => {
      const peer = [...peers.values()].find((p) => p.user.username === username);
      if (!peer) return 0;
      let bytes = 0;
      (await peer.pc.getStats()).forEach((report: { type: string; kind?: string; bytesReceived?: number }) => {
        if (report.type === "inbound-rtp" && report.kind === "video") bytes += report.bytesReceived ?? 0;
      });
      return bytes;
    },
    videoSenderTrack: (username: string) => {
      const peer = [...peers.values()].find((p) => p.user.username === username);
      const track = peer ? videoSender(peer)?.track : null;
      return track ? { id: track.id, label: track.label } : null;
    },
    cameraTrackId: () => cameraTrack?.id ?? null,
    screenTrackId: () => screenTrack?.id ?? null,
  };
}
