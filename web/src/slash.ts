/**
 * Slash commands typed in the composer: the parser, the duration parser and the autocomplete
 * suggestions. Pure functions only; the controller (`chat.ts`) carries a parsed command out.
 */

export type CommandName = "invite" | "kick" | "ban" | "mute" | "unban" | "unmute" | "topic" | "me" | "leave" | "dm";

export type CommandSpec = { name: CommandName; usage: string; help: string; moderators?: boolean };

export const COMMANDS: CommandSpec[] = [
  { name: "me", usage: "/me action", help: "Say what you're doing: * you wave" },
  { name: "dm", usage: "/dm @user", help: "Open a direct conversation" },
  { name: "topic", usage: "/topic text", help: "Change the room's topic" },
  { name: "invite", usage: "/invite @user", help: "Add someone to this room", moderators: true },
  { name: "kick", usage: "/kick @user", help: "Remove someone from this room", moderators: true },
  { name: "ban", usage: "/ban @user [10m|1h|1d]", help: "Ban someone, for good or for a while", moderators: true },
  { name: "mute", usage: "/mute @user [10m|1h|1d]", help: "Stop someone posting, for good or for a while", moderators: true },
  { name: "unban", usage: "/unban @user", help: "Lift someone's ban", moderators: true },
  { name: "unmute", usage: "/unmute @user", help: "Let someone post again", moderators: true },
  { name: "leave", usage: "/leave", help: "Leave this room" },
];

export type Command =
  | { name: "invite" | "kick" | "dm" | "unban" | "unmute"; username: string }
  | { name: "ban" | "mute"; username: string; seconds: number | null }
  | { name: "topic"; text: string }
  | { name: "me"; text: string }
  | { name: "leave" };

/** What the composer's text is: a plain message, a command, or a command that can't be run. */
export type Parsed = { type: "message"; body: string } | { type: "command"; command: Command } | { type: "error"; error: string };

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };
/** The longest ban or mute a duration may ask for (a year); longer is "for good". */
export const MAX_DURATION_SECS = 365 * 86_400;

/** "10m", "1h", "2d", "90s", "1w" → seconds; anything else (or 0, or over 365 days) → null. */
export function parseDuration(text: string): number | null {
  const m = /^(\d{1,6})\s*([smhdw])$/i.exec(text.trim());
  if (!m) return null;
  const secs = Number(m[1]) * UNITS[m[2].toLowerCase()];
  if (secs <= 0 || secs > MAX_DURATION_SECS) return null;
  return secs;
}

/** 600 → "10 minutes", 3600 → "1 hour", 86400*2 → "2 days". */
export function formatDuration(secs: number): string {
  const parts: [number, string][] = [
    [604_800, "week"],
    [86_400, "day"],
    [3600, "hour"],
    [60, "minute"],
    [1, "second"],
  ];
  for (const [size, unit] of parts) {
    if (secs >= size && secs % size === 0) {
      const n = secs / size;
      return `${n} ${unit}${n === 1 ? "" : "s"}`;
    }
  }
  const mins = Math.round(secs / 60);
  return `${mins} minute${mins === 1 ? "" : "s"}`;
}

const USERNAME = /^@?([A-Za-z0-9_.-]{1,32})$/;

function usage(name: CommandName): string {
  return `Usage: ${COMMANDS.find((c) => c.name === name)?.usage ?? `/${name}`}`;
}

/**
 * Read the composer's text. Text not starting with "/" is a message; "//text" sends "/text" as a
 * message (the escape for a line that starts with a slash).
 */
export function parseComposer(input: string): Parsed {
  const text = input.trim();
  if (!text.startsWith("/")) return { type: "message", body: text };
  if (text.startsWith("//")) return { type: "message", body: text.slice(1) };
  const m = /^\/(\S*)\s*([\s\S]*)$/.exec(text);
  const name = (m?.[1] ?? "").toLowerCase();
  const rest = (m?.[2] ?? "").trim();
  const spec = COMMANDS.find((c) => c.name === name);
  if (!spec) {
    return { type: "error", error: name ? `Unknown command /${name}. Type / to see the commands.` : "Type a command after the /." };
  }
  const args = rest ? rest.split(/\s+/) : [];
  switch (spec.name) {
    case "me":
    case "topic":
      if (spec.name === "me" && !rest) return { type: "error", error: usage("me") };
      return { type: "command", command: { name: spec.name, text: rest } };
    case "leave":
      if (args.length) return { type: "error", error: usage("leave") };
      return { type: "command", command: { name: "leave" } };
    case "invite":
    case "kick":
    case "unban":
    case "unmute":
    case "dm": {
      const user = args.length === 1 ? USERNAME.exec(args[0]) : null;
      if (!user) return { type: "error", error: usage(spec.name) };
      return { type: "command", command: { name: spec.name, username: user[1] } };
    }
    case "ban":
    case "mute": {
      const user = args.length >= 1 && args.length <= 2 ? USERNAME.exec(args[0]) : null;
      if (!user) return { type: "error", error: usage(spec.name) };
      let seconds: number | null = null;
      if (args.length === 2) {
        seconds = parseDuration(args[1]);
        if (seconds === null) {
          return { type: "error", error: `"${args[1]}" isn't a duration: use a number and s, m, h, d or w, like 10m or 1d.` };
        }
      }
      return { type: "command", command: { name: spec.name, username: user[1], seconds } };
    }
  }
}

/** The body of a `/me` message as it is sent and stored. */
export function meBody(text: string): string {
  return `/me ${text.trim()}`;
}

/** The action of a message sent with `/me` ("/me waves" → "waves"), or null for other messages. */
export function actionText(body: string): string | null {
  const m = /^\/me\s+([\s\S]+)$/.exec(body);
  return m ? m[1] : null;
}

export type Suggestion = { kind: "command"; spec: CommandSpec } | { kind: "user"; username: string; label: string };

export type Completion = {
  /** Where the token being completed starts in the text (it runs to the caret). */
  start: number;
  items: Suggestion[];
};

/**
 * What the popup offers for the text up to the caret: commands while the first word starts with
 * "/", usernames (from `people`) while the word at the caret starts with "@" in a command that
 * takes a person.
 */
export function completions(
  textBeforeCaret: string,
  people: { username: string; label: string }[],
  limit = 8,
): Completion | null {
  const cmd = /^\/(\w*)$/.exec(textBeforeCaret);
  if (cmd) {
    const prefix = cmd[1].toLowerCase();
    const items = COMMANDS.filter((c) => c.name.startsWith(prefix)).map((spec): Suggestion => ({ kind: "command", spec }));
    return items.length ? { start: 0, items } : null;
  }
  const at = /^\/(invite|kick|ban|mute|unban|unmute|dm)\s+(@?)([A-Za-z0-9_.-]*)$/i.exec(textBeforeCaret);
  if (at) {
    const prefix = at[3].toLowerCase();
    const start = textBeforeCaret.length - at[2].length - at[3].length;
    const items = people
      .filter((p) => p.username.toLowerCase().startsWith(prefix) || p.label.toLowerCase().startsWith(prefix))
      .slice(0, limit)
      .map((p): Suggestion => ({ kind: "user", username: p.username, label: p.label }));
    return items.length ? { start, items } : null;
  }
  return null;
}

/** The text after picking `item` for the completion that starts at `start`. */
export function applySuggestion(textBeforeCaret: string, start: number, item: Suggestion): string {
  const insert = item.kind === "command" ? `/${item.spec.name} ` : `@${item.username} `;
  return textBeforeCaret.slice(0, start) + insert;
}

/** The names `@here` and `@room` stand for everyone (online / in the room); offered after people. */
export const SPECIAL_MENTIONS = [
  { username: "here", label: "Everyone online in this room" },
  { username: "room", label: "Everyone in this room" },
];

/**
 * What the popup offers for an `@mention` being typed in a message (the word at the caret starts
 * with "@" after a space or at the start): the room's people, then @here and @room.
 */
export function mentionCompletion(
  textBeforeCaret: string,
  people: { username: string; label: string }[],
  limit = 8,
): Completion | null {
  const m = /(^|\s)@([A-Za-z0-9_.-]{0,32})$/.exec(textBeforeCaret);
  if (!m) return null;
  const prefix = m[2].toLowerCase();
  const start = textBeforeCaret.length - m[2].length - 1;
  const matches = (p: { username: string; label: string }) =>
    p.username.toLowerCase().startsWith(prefix) || p.label.toLowerCase().startsWith(prefix);
  const items = [...people.filter(matches).slice(0, limit), ...SPECIAL_MENTIONS.filter(matches)].map(
    (p): Suggestion => ({ kind: "user", username: p.username, label: p.label }),
  );
  return items.length ? { start, items } : null;
}
