/** Issue #9's account actions (the settings dialog): profile, password, sessions, export, delete, claim. */
import { api, endSession } from "./chat";
import type { Profile, ProfilePatch, Session } from "./protocol";
import { useChat } from "./store";

const set = useChat.setState;
const get = useChat.getState;

export async function loadMyProfile(): Promise<Profile | null> {
  const me = get().me;
  return me ? api.profile(me.id) : null;
}

export async function profileOf(userId: string): Promise<Profile> {
  return api.profile(userId);
}

export async function saveProfile(patch: ProfilePatch): Promise<void> {
  const user = await api.updateMe(patch);
  set({ me: user });
}

export async function changePassword(current: string, next: string): Promise<void> {
  await api.changePassword(current, next);
}

export async function listSessions(): Promise<Session[]> {
  return api.sessions();
}

export async function revokeSession(id: string): Promise<void> {
  await api.revokeSession(id);
}

/** Download everything the server holds about this person as a JSON file. */
export async function exportMyData(): Promise<void> {
  const data = await api.exportMe();
  const blob = new Blob([JSON.stringify(data, null, 2)], { type: "application/json" });
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = `palaver-${get().me?.username ?? "export"}.json`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export async function deleteAccount(password: string): Promise<void> {
  await api.deleteMe(password);
  endSession();
}

/** Turn this guest into an account with the same name. */
export async function claimName(password: string): Promise<void> {
  await api.claim(password);
  set({ me: await api.me() });
}
