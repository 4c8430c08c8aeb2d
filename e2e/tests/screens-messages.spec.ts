import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import path from "node:path";
import type { Page } from "@playwright/test";
import { Person, expect, screenshotDir, test, uniqueName } from "./fixtures";

const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
type Violation = { id: string; impact: string | null; help: string; nodes: { target: string[] }[] };

/** Serious and critical axe-core findings on the page as it is now. */
async function seriousViolations(page: Page): Promise<string[]> {
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run: (ctx: Document, opts: object) => Promise<{ violations: Violation[] }> } }).axe;
    return (await axe.run(document, { resultTypes: ["violations"] })).violations;
  });
  return violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`);
}

const shot = (name: string) => path.join(screenshotDir, name);
/** Waits until no CSS transition or animation runs (the phone drawer slides shut after a resize). */
const settled = (page: Page) =>
  page.waitForFunction(() => document.getAnimations().every((a) => a.playState !== "running"));

test("issue #10 on screen: formatting, reply, reactions, thread, pins — light, dark and phone, without serious a11y findings", async ({ browser, server }) => {
  for (const colorScheme of ["light", "dark"] as const) {
    const alice = await Person.open(browser, server, "alice", { colorScheme, viewport: { width: 1280, height: 800 } });
    const bob = await Person.open(browser, server, "bob", { colorScheme });
    await alice.signInAsGuest();
    await bob.signInAsGuest();
    const room = uniqueName("screens");
    await alice.createRoom(room);
    await bob.openRoom(room);
    await bob.send("Release notes are up: **v2.4** ships `palaver --check` and a [changelog](https://example.com/changelog) :rocket:");
    await bob.send("```bash\ncargo build --release\n./target/release/palaver --listen 0.0.0.0:8080\n```");
    // Both on Alice's screen before she points at the first: the second arriving under the
    // pointer moves the first away from it (its toolbar, shown on hover, then takes no clicks).
    await expect(alice.message("cargo build --release")).toBeVisible();
    const notes = alice.message("Release notes are up");
    await notes.hover();
    await notes.getByRole("button", { name: "Reply", exact: true }).click();
    await alice.send(`Nice work @${bob.name}! Does it need a migration?`);
    await notes.hover();
    await notes.getByRole("button", { name: "React", exact: true }).click();
    await alice.page.getByRole("button", { name: "React with 🎉" }).click();
    await expect(bob.message("Release notes are up").locator("[data-testid=reaction]")).toHaveCount(1);
    const bobNotes = bob.message("Release notes are up");
    await bobNotes.hover();
    await bobNotes.getByRole("button", { name: "React", exact: true }).click();
    await bob.page.getByRole("button", { name: "React with 👀" }).click();
    await expect(notes.locator("[data-testid=reaction]")).toHaveCount(2);
    await notes.hover();
    await notes.getByRole("button", { name: "Pin", exact: true }).click();
    await expect(notes.getByTestId("pinned")).toBeVisible();

    await notes.getByRole("button", { name: "Reply in thread" }).click();
    await alice.page.getByRole("textbox", { name: "Reply in thread" }).fill("Thread: who writes the blog post?");
    await alice.page.getByRole("textbox", { name: "Reply in thread" }).press("Enter");
    await expect(bob.message("Release notes are up").getByTestId("thread-line")).toContainText("1 reply");
    await alice.page.mouse.move(0, 0);
    expect(await seriousViolations(alice.page)).toEqual([]);
    await alice.page.screenshot({ path: shot(`messages-thread-${colorScheme}.png`) });

    await alice.page.getByRole("button", { name: "Close thread" }).click();
    await alice.page.getByTestId("pins-toggle").click();
    await expect(alice.page.getByTestId("pins-panel").getByTestId("pin")).toHaveCount(1);
    await notes.hover();
    await notes.getByRole("button", { name: "React", exact: true }).click();
    await expect(alice.page.getByTestId("emoji-picker")).toBeVisible();
    expect(await seriousViolations(alice.page)).toEqual([]);
    await alice.page.screenshot({ path: shot(`messages-pins-picker-${colorScheme}.png`) });
    await alice.page.keyboard.press("Escape");

    // Bob's @mention, seen on a phone.
    await bob.page.setViewportSize({ width: 390, height: 844 });
    await expect(bob.message("Does it need a migration?")).toHaveAttribute("data-mentioned", "true");
    await settled(bob.page);
    await bob.page.screenshot({ path: shot(`messages-phone-${colorScheme}.png`) });
    await bob.message("Release notes are up").getByTestId("thread-line").click();
    await expect(bob.page.getByTestId("thread-panel").getByTestId("thread-message")).toHaveCount(1);
    await settled(bob.page);
    await bob.page.screenshot({ path: shot(`messages-phone-thread-${colorScheme}.png`) });
    await alice.close();
    await bob.close();
  }
});
