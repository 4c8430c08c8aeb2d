import type { Page } from "@playwright/test";
import { Person, expect, test } from "./fixtures";

/** Collects console errors and Content-Security-Policy violations of a page. */
async function watchForViolations(page: Page): Promise<{ console: string[]; csp: () => Promise<string[]> }> {
  const consoleErrors: string[] = [];
  page.on("console", (m) => {
    // A 401 before sign-in is logged by the browser as "Failed to load resource": network
    // noise, not a script error. Everything else, CSP refusals included, counts.
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) consoleErrors.push(m.text());
  });
  // Runs before the page's own scripts (injected by the browser driver, not subject to the CSP).
  await page.addInitScript(() => {
    const w = window as unknown as { __csp: string[] };
    w.__csp = [];
    document.addEventListener("securitypolicyviolation", (e) => {
      w.__csp.push(`${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  return {
    console: consoleErrors,
    csp: () => page.evaluate(() => (window as unknown as { __csp: string[] }).__csp),
  };
}

const HOSTILE = [
  "<img src=x onerror=window.__xss=1>",
  "<script>window.__xss=1</script>",
  '<a href="javascript:window.__xss=1">link</a> <iframe src="javascript:window.__xss=1">',
  '"><svg onload="window.__xss=1">',
];

test.describe("hostile message bodies", () => {
  test("HTML and script show as literal text under a strict CSP", async ({ browser, server }) => {
    const alice = await Person.open(browser, server, "alice");
    const bob = await Person.open(browser, server, "bob");
    const aliceWatch = await watchForViolations(alice.page);
    const bobWatch = await watchForViolations(bob.page);

    // The page itself is served with the policy.
    const answer = await alice.page.goto("/");
    const csp = answer?.headers()["content-security-policy"] ?? "";
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain("unsafe-inline");

    await alice.signInAsGuest();
    await bob.signInAsGuest();
    await alice.openRoom("General");
    await bob.openRoom("General");

    for (const body of HOSTILE) await alice.send(body);
    for (const person of [alice, bob]) {
      for (const body of HOSTILE) {
        // Sent by Alice (her own rendering) and received live by Bob: the exact text, as text.
        await expect(person.exactMessage(body)).toHaveCount(1);
        await expect(person.exactMessage(body).getByTestId("body")).toContainText(body);
      }
      const bodies = person.page.locator("[data-testid=message] [data-testid=body]");
      await expect(bodies.locator("img, script, svg, iframe, a[href^='javascript']")).toHaveCount(0);
      expect(await person.page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
    }

    // And after a reload (history from REST rather than the live socket).
    await bob.page.reload();
    await bob.openRoom("General");
    for (const body of HOSTILE) await expect(bob.exactMessage(body)).toHaveCount(1);
    expect(await bob.page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();

    for (const watch of [aliceWatch, bobWatch]) {
      expect(await watch.csp()).toEqual([]);
      expect(watch.console).toEqual([]);
    }
    await alice.close();
    await bob.close();
  });

  test("the API docs page renders with its stylesheet under the CSP", async ({ browser, server }) => {
    const reader = await Person.open(browser, server, "reader");
    const watch = await watchForViolations(reader.page);
    await reader.page.goto("/docs");
    await expect(reader.page.getByRole("heading", { level: 1 })).toContainText("Palaver");
    // The stylesheet applied: the method badges have their colours.
    const badge = reader.page.locator(".m.post").first();
    await expect(badge).toHaveCSS("background-color", "rgb(45, 95, 180)");
    expect(await watch.csp()).toEqual([]);
    expect(watch.console).toEqual([]);
    await reader.close();
  });
});
