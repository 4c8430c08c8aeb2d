/**
 * The one store. Components read it through selectors (`useChat(s => …)`); only the controller
 * (`chat.ts`) writes to it. It holds what the screen shows, never sockets or timers.
 */
import { create } from "zustand";
import type { ConnectionState } from "./connection";
import type { Room, User } from "./protocol";
import type { OutboxEntry, RoomView } from "./roomState";

export type ThemeChoice = "system" | "light" | "dark";

export type Toast = { id: number; text: string };

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
};

export const useChat = create<ChatState>(() => ({ ...initialState }));

/** Rooms sorted by name, for the sidebar. */
export function sortRooms(rooms: Record<string, Room>): Room[] {
  return Object.values(rooms).sort((a, b) => a.name.localeCompare(b.name, undefined, { sensitivity: "base" }));
}
