/**
 * The one store. Components read it through selectors (`useChat(s => …)`); only the controller
 * (`chat.ts`) writes to it. It holds what the screen shows, never sockets or timers.
 */
import { create } from "zustand";
import type { ConnectionState } from "./connection";
import type { Member, NotificationLevel, Room, ServerConfig, UnreadEntry, User } from "./protocol";
import type { OutboxEntry, RoomView, ThreadView } from "./roomState";

export type ThemeChoice = "system" | "light" | "dark";

/** A passing message; `action` is one button on it (e.g. "Undo", #15). */
export type Toast = { id: number; text: string; action?: { label: string; run: () => void } };

/** The one app-level dialog open at a time (dialogs of a room or a message live with them). */
export type AppDialog = "createRoom" | "newDm" | "settings" | "welcome" | null;

export type ChatState = {
  me: User | null;
  /** GET /api/me has answered (signed in or not). */
  authChecked: boolean;
  connection: ConnectionState;
  /** Every room on the server, by id. */
  rooms: Record<string, Room>;
  /** The rooms this person follows (member of), in the order they joined. */
  joined: string[];
  activeRoomId: string | null;
  views: Record<string, RoomView>;
  outbox: OutboxEntry[];
  /** room id → the highest seq this person has seen there. */
  readSeq: Record<string, number>;
  theme: ThemeChoice;
  sound: boolean;
  drawerOpen: boolean;
  toasts: Toast[];
  /** Text for the screen-reader live region. */
  announcement: string;
  /** room id → its members (GET …/members), kept fresh by member events while shown. */
  members: Record<string, Member[]>;
  /** The person whose profile card is open, and the room it was opened from. */
  profile: { userId: string; roomId: string | null } | null;
  dialog: AppDialog;
  /** An invite link this page was opened with (`/invite/{code}`), until joined or dismissed. */
  inviteCode: string | null;
  /** GET /api/config: what the sign-in page tells guests. */
  config: ServerConfig | null;
  /** room id → why the last send there was refused (muted, banned…), shown under the composer. */
  composerError: Record<string, string>;
  // ---- issue #10 ----
  /** room id → the message the composer is replying to. */
  replyTo: Record<string, string>;
  /** The open thread panel. */
  thread: { roomId: string; rootId: string } | null;
  /** root message id → its loaded replies. */
  threads: Record<string, ThreadView>;
  /** room id → the server's unread and mention counts and read marker (GET /api/me/unread). */
  unread: Record<string, UnreadEntry>;
  /** room id → the read marker when the room was opened: where "New since you left" goes. */
  divider: Record<string, number>;
  /** The pinned-messages panel of the open room. */
  pinsOpen: boolean;
  /** room id → this person's notification setting, as last set or told. */
  notifyLevels: Record<string, NotificationLevel>;
  /** Offer desktop notifications (after the first message sent, never on load). */
  notifyPrompt: boolean;
  /** A message whose editor should open (ArrowUp in an empty composer). */
  editRequest: string | null;
  // ---- issue #15 ----
  /** The room whose messages show drag handles on a touch screen (its "Rearrange" mode). */
  rearranging: string | null;
  /** message id → who just moved it (someone else), shown beside it for a few seconds. */
  movedBy: Record<string, string>;
  /** When the connection tries the server again (ms since the epoch), or null. */
  reconnectAt: number | null;
};

export const initialState: ChatState = {
  me: null,
  authChecked: false,
  connection: "offline",
  rooms: {},
  joined: [],
  activeRoomId: null,
  views: {},
  outbox: [],
  readSeq: {},
  theme: "system",
  sound: false,
  drawerOpen: false,
  toasts: [],
  announcement: "",
  members: {},
  profile: null,
  dialog: null,
  inviteCode: null,
  config: null,
  composerError: {},
  replyTo: {},
  thread: null,
  threads: {},
  unread: {},
  divider: {},
  pinsOpen: false,
  notifyLevels: {},
  notifyPrompt: false,
  editRequest: null,
  rearranging: null,
  reconnectAt: null,
  movedBy: {},
};

export const useChat = create<ChatState>(() => ({ ...initialState }));

/** Rooms sorted by name, for the sidebar (direct conversations: by their name for this person). */
export function sortRooms(rooms: Record<string, Room>): Room[] {
  return Object.values(rooms).sort((a, b) => a.name.localeCompare(b.name, undefined, { sensitivity: "base" }));
}
