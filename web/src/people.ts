/**
 * Issue #9's actions on people and rooms: direct conversations, invites, members, moderation,
 * reports, and carrying out a slash command typed in the composer. They use the controller's
 * REST client and keep the store right the same way `chat.ts` does.
 */
import { ApiError } from "./api";
import { adoptRoom, api, describe, leaveRoom, refreshMembers, sendMessage, updateRoom } from "./chat";
import { displayName } from "./names";
import type { Invite, InviteInfo, Member, Role } from "./protocol";
import { meBody, type Command } from "./slash";
import { useChat } from "./store";

const set = useChat.setState;
const get = useChat.getState;

/** Open (or find) the direct conversation with these people and show it. */
export async function openDm(usernames: string[]): Promise<void> {
  const room = await api.openDm(usernames);
  set({ profile: null, dialog: null });
  await adoptRoom(room, true);
}

export async function createInvite(roomId: string, opts: { max_uses?: number; expires_in_secs?: number } = {}): Promise<Invite> {
  return api.createInvite(roomId, opts);
}

export async function lookupInvite(code: string): Promise<InviteInfo> {
  return api.invite(code);
}

/** Join with an invite code, land in the room, and forget the code. */
export async function acceptInvite(code: string): Promise<void> {
  const room = await api.acceptInvite(code);
  dismissInvite();
  await adoptRoom({ ...room, member: true }, true);
}

export function dismissInvite(): void {
  set({ inviteCode: null });
  if (/^\/invite\//.test(location.pathname)) history.replaceState(null, "", "/");
}

export async function addMember(roomId: string, username: string): Promise<void> {
  await api.addMember(roomId, username.replace(/^@/, ""));
  await refreshMembers(roomId);
}

export async function setRole(roomId: string, userId: string, role: Role): Promise<void> {
  await api.setRole(roomId, userId, role);
  await refreshMembers(roomId);
}

export async function kick(roomId: string, userId: string): Promise<void> {
  await api.kick(roomId, userId);
  await refreshMembers(roomId);
}

export async function ban(roomId: string, userId: string, seconds: number | null): Promise<void> {
  await api.ban(roomId, userId, seconds);
  await refreshMembers(roomId);
}

export async function mute(roomId: string, userId: string, seconds: number | null): Promise<void> {
  await api.mute(roomId, userId, seconds);
}

export async function unban(roomId: string, userId: string): Promise<void> {
  await api.unban(roomId, userId);
}

export async function unmute(roomId: string, userId: string): Promise<void> {
  await api.unmute(roomId, userId);
}

/** Whether a person is banned or muted in a room now (moderators only; nothing known otherwise). */
export async function standing(roomId: string, userId: string): Promise<{ banned: boolean; muted: boolean }> {
  const [bans, mutes] = await Promise.all([api.bans(roomId).catch(() => []), api.mutes(roomId).catch(() => [])]);
  return { banned: bans.some((b) => b.user.id === userId), muted: mutes.some((m) => m.user.id === userId) };
}

export async function report(roomId: string, messageId: string, reason: string): Promise<void> {
  await api.report(roomId, messageId, reason.trim());
}

export function openProfile(userId: string, roomId: string | null): void {
  set({ profile: { userId, roomId } });
}

export function closeProfile(): void {
  set({ profile: null });
}

/** The room's members, loading them when not known yet. */
export async function membersOf(roomId: string): Promise<Member[]> {
  const known = get().members[roomId];
  if (known) return known;
  await refreshMembers(roomId);
  return get().members[roomId] ?? [];
}

/** A member of the room by username (case-insensitive), asking the server when not loaded. */
async function memberByName(roomId: string, username: string): Promise<Member | null> {
  const find = (list: Member[] | undefined) => list?.find((m) => m.user.username.toLowerCase() === username.toLowerCase()) ?? null;
  const known = find(get().members[roomId]);
  if (known) return known;
  await refreshMembers(roomId);
  return find(get().members[roomId]);
}

/**
 * Carry out a slash command in a room. Resolves to null when done, or to the words to show
 * under the composer when it couldn't be done (nothing is sent then).
 */
export async function runCommand(roomId: string, command: Command): Promise<string | null> {
  const direct = get().rooms[roomId]?.kind === "direct";
  if (direct && command.name === "leave") return "A direct conversation can't be left: its people are fixed";
  const moderation = ["invite", "kick", "ban", "mute", "unban", "unmute"];
  if (direct && moderation.includes(command.name)) {
    return command.name === "invite"
      ? "A direct conversation's people are fixed: start a new message with everyone instead"
      : `There's no /${command.name} in a direct conversation`;
  }
  try {
    switch (command.name) {
      case "me":
        return sendMessage(roomId, meBody(command.text)) ? null : "That action is too long";
      case "topic":
        await updateRoom(roomId, { topic: command.text });
        return null;
      case "leave":
        await leaveRoom(roomId);
        return null;
      case "dm":
        await openDm([command.username]);
        return null;
      case "invite":
        await addMember(roomId, command.username);
        return null;
      case "unban":
      case "unmute": {
        // A banned person is no member any more: look them up among the room's bans (mutes).
        const list = command.name === "unban" ? await api.bans(roomId) : await api.mutes(roomId);
        const found = list.find((s) => s.user.username.toLowerCase() === command.username.toLowerCase());
        if (!found) return `@${command.username} isn't ${command.name === "unban" ? "banned" : "muted"} here`;
        if (command.name === "unban") await api.unban(roomId, found.user.id);
        else await api.unmute(roomId, found.user.id);
        return null;
      }
      case "kick":
      case "ban":
      case "mute": {
        const member = await memberByName(roomId, command.username);
        if (!member) return `There's no one called @${command.username} in this room`;
        if (member.user.id === get().me?.id) return `You can't ${command.name} yourself`;
        if (command.name === "ban") await ban(roomId, member.user.id, command.seconds);
        else if (command.name === "mute") await mute(roomId, member.user.id, command.seconds);
        else await kick(roomId, member.user.id);
        return null;
      }
    }
  } catch (err) {
    if (err instanceof ApiError && err.code === "user_not_found") {
      return "username" in command ? `There's no one called @${command.username}` : describe(err);
    }
    return describe(err);
  }
}

/** People to offer after "@" in this room: its members but you, by display name. */
export function mentionCandidates(roomId: string): { username: string; label: string }[] {
  const me = get().me;
  return (get().members[roomId] ?? [])
    .filter((m) => m.user.id !== me?.id)
    .map((m) => ({ username: m.user.username, label: displayName(m.user) }))
    .sort((a, b) => a.username.localeCompare(b.username));
}
