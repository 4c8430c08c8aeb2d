import { describe, expect, it } from "vitest";
import { actionText, applySuggestion, completions, formatDuration, meBody, parseComposer, parseDuration } from "./slash";

describe("durations", () => {
  it("reads a number and a unit", () => {
    expect(parseDuration("10m")).toBe(600);
    expect(parseDuration("1h")).toBe(3600);
    expect(parseDuration("1d")).toBe(86_400);
    expect(parseDuration("90s")).toBe(90);
    expect(parseDuration("2w")).toBe(1_209_600);
    expect(parseDuration(" 3H ")).toBe(10_800);
  });
  it("refuses everything else", () => {
    for (const bad of ["", "10", "m", "1.5h", "-1h", "0m", "1y", "10 minutes", "1h30m", "400d"]) {
      expect(parseDuration(bad), bad).toBeNull();
    }
  });
  it("says a duration in words", () => {
    expect(formatDuration(600)).toBe("10 minutes");
    expect(formatDuration(3600)).toBe("1 hour");
    expect(formatDuration(172_800)).toBe("2 days");
    expect(formatDuration(604_800)).toBe("1 week");
    expect(formatDuration(90)).toBe("90 seconds");
  });
});

describe("the composer's text", () => {
  it("is a message unless it starts with a slash; // escapes one", () => {
    expect(parseComposer("  hello  ")).toEqual({ type: "message", body: "hello" });
    expect(parseComposer("a /kick in the middle")).toEqual({ type: "message", body: "a /kick in the middle" });
    expect(parseComposer("//shrug")).toEqual({ type: "message", body: "/shrug" });
  });

  it("reads each command with its arguments", () => {
    expect(parseComposer("/invite @bob")).toEqual({ type: "command", command: { name: "invite", username: "bob" } });
    expect(parseComposer("/kick bob")).toEqual({ type: "command", command: { name: "kick", username: "bob" } });
    expect(parseComposer("/ban @carol.x")).toEqual({ type: "command", command: { name: "ban", username: "carol.x", seconds: null } });
    expect(parseComposer("/ban @carol 1d")).toEqual({ type: "command", command: { name: "ban", username: "carol", seconds: 86_400 } });
    expect(parseComposer("/MUTE @dan 10m")).toEqual({ type: "command", command: { name: "mute", username: "dan", seconds: 600 } });
    expect(parseComposer("/topic  Books we love  ")).toEqual({ type: "command", command: { name: "topic", text: "Books we love" } });
    expect(parseComposer("/topic")).toEqual({ type: "command", command: { name: "topic", text: "" } });
    expect(parseComposer("/me waves at everyone")).toEqual({ type: "command", command: { name: "me", text: "waves at everyone" } });
    expect(parseComposer("/leave")).toEqual({ type: "command", command: { name: "leave" } });
    expect(parseComposer("/dm @erin")).toEqual({ type: "command", command: { name: "dm", username: "erin" } });
    expect(parseComposer("/unban @bob")).toEqual({ type: "command", command: { name: "unban", username: "bob" } });
    expect(parseComposer("/unmute bob")).toEqual({ type: "command", command: { name: "unmute", username: "bob" } });
  });

  it("says what's wrong with an unknown command or bad arguments", () => {
    const error = (text: string) => {
      const parsed = parseComposer(text);
      expect(parsed.type, text).toBe("error");
      return parsed.type === "error" ? parsed.error : "";
    };
    expect(error("/shout hi")).toMatch(/Unknown command \/shout/);
    expect(error("/")).toMatch(/command/);
    expect(error("/kick")).toBe("Usage: /kick @user");
    expect(error("/kick @bob @carol")).toBe("Usage: /kick @user");
    expect(error("/kick @bo b!")).toBe("Usage: /kick @user");
    expect(error("/ban @bob forever")).toMatch(/"forever" isn't a duration/);
    expect(error("/mute @bob 10m extra")).toBe("Usage: /mute @user [10m|1h|1d]");
    expect(error("/me")).toBe("Usage: /me action");
    expect(error("/leave now")).toBe("Usage: /leave");
    expect(error("/dm")).toBe("Usage: /dm @user");
    expect(error("/unban @bob 1h")).toBe("Usage: /unban @user");
  });

  it("/me messages carry the action and are recognised when shown", () => {
    expect(meBody("  waves ")).toBe("/me waves");
    expect(actionText("/me waves")).toBe("waves");
    expect(actionText("/me")).toBeNull();
    expect(actionText("/meow")).toBeNull();
    expect(actionText("hello /me waves")).toBeNull();
  });
});

describe("autocomplete", () => {
  const people = [
    { username: "alice", label: "Alice Liddell" },
    { username: "albert", label: "albert" },
    { username: "bob", label: "Robert" },
  ];

  it("offers commands while the first word is typed", () => {
    const c = completions("/", people);
    expect(c?.items.map((i) => (i.kind === "command" ? i.spec.name : ""))).toEqual(["me", "dm", "topic", "invite", "kick", "ban", "mute", "unban", "unmute", "leave"]);
    expect(completions("/m", people)?.items.map((i) => (i.kind === "command" ? i.spec.name : ""))).toEqual(["me", "mute"]);
    expect(completions("/un", people)?.items.map((i) => (i.kind === "command" ? i.spec.name : ""))).toEqual(["unban", "unmute"]);
    expect(completions("/zzz", people)).toBeNull();
    expect(completions("hello", people)).toBeNull();
  });

  it("offers members after a command that takes a person, by username or display name", () => {
    const names = (text: string) => completions(text, people)?.items.map((i) => (i.kind === "user" ? i.username : ""));
    expect(names("/kick @al")).toEqual(["alice", "albert"]);
    expect(names("/ban al")).toEqual(["alice", "albert"]);
    expect(names("/dm @rob")).toEqual(["bob"]);
    expect(names("/kick @")).toEqual(["alice", "albert", "bob"]);
    expect(names("/topic @al")).toBeUndefined();
    expect(names("/ban @alice 1")).toBeUndefined();
  });

  it("picking replaces the token being typed", () => {
    const cmd = completions("/ki", people);
    expect(cmd && applySuggestion("/ki", cmd.start, cmd.items[0])).toBe("/kick ");
    const user = completions("/ban @al", people);
    expect(user && applySuggestion("/ban @al", user.start, user.items[0])).toBe("/ban @alice ");
    const bare = completions("/ban al", people);
    expect(bare && applySuggestion("/ban al", bare.start, bare.items[1])).toBe("/ban @albert ");
  });
});
