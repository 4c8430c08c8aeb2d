import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import type { Page } from "@playwright/test";
import { Person, expect, test } from "./fixtures";

const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

type Violation = { id: string; impact: string | null; help: string; nodes: { target: string[] }[] };

/** Serious and critical axe-core findings on the page as it is now. */
async function seriousViolations(page: Page): Promise<string[]> {
  // Evaluated by the driver, not added as an inline <script>: the page's CSP refuses those.
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run: (ctx: Document, opts: object) => Promise<{ violations: Violation[] }> } }).axe;
    const result = await axe.run(document, { resultTypes: ["violations"] });
    return result.violations;
  });
  return violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`);
}

test("sign-in and chat screens have no serious accessibility violations, light and dark", async ({ browser, server }) => {
  for (const colorScheme of ["light", "dark"] as const) {
    const alice = await Person.open(browser, server, "alice", { colorScheme });
    await alice.page.goto("/");
    await expect(alice.page.getByLabel("Username")).toBeVisible();
    expect(await seriousViolations(alice.page)).toEqual([]);
    await alice.signInAsGuest();
    await alice.openRoom("General");
    await alice.send(`checking contrast and labels (${colorScheme})`);
    await expect(alice.message(`checking contrast and labels (${colorScheme})`)).toHaveAttribute("data-state", "sent");
    expect(await seriousViolations(alice.page)).toEqual([]);
    await alice.close();
  }
});

test("issue #9's dialogs and panels have no serious accessibility violations, light and dark", async ({ browser, server }) => {
  for (const colorScheme of ["light", "dark"] as const) {
    const alice = await Person.open(browser, server, "alice", { colorScheme, viewport: { width: 1280, height: 800 } });
    await alice.signInAsGuest();
    await alice.createRoom(`A11y ${colorScheme} ${Date.now() % 100000}`, "Private", "Checking the people panel");
    await alice.send("/me checks the contrast");
    await expect(alice.message("checks the contrast")).toBeVisible();
    await alice.composer().fill("/");
    await expect(alice.page.getByTestId("slash-popup")).toBeVisible();
    expect(await seriousViolations(alice.page)).toEqual([]);
    await alice.composer().fill("");

    await alice.page.locator(`[data-testid=member-row][data-username="${alice.name}"] button`).click();
    await expect(alice.page.getByTestId("profile-card")).toContainText(`@${alice.name}`);
    expect(await seriousViolations(alice.page)).toEqual([]);
    await alice.page.getByRole("button", { name: "Close" }).click();

    await alice.page.getByRole("button", { name: "New message", exact: true }).click();
    await alice.page.getByLabel("Find people").fill(alice.name.slice(0, 3));
    expect(await seriousViolations(alice.page)).toEqual([]);
    await alice.page.getByRole("button", { name: "Cancel" }).click();

    await alice.page.getByRole("button", { name: "Account settings" }).click();
    await expect(alice.page.getByRole("dialog", { name: "Account settings" })).toBeVisible();
    expect(await seriousViolations(alice.page)).toEqual([]);
    await alice.close();
  }
});
