import path from "node:path";
import { Person, expect, screenshotDir, test, uniqueName } from "./fixtures";

// One retry: "an @mention … the divider shows on return" failed once in CI (2026-12-06: after
// the reload the room was unread again). Bob's read was told by a PUT sent as the page went away,
// which can land after the new page has asked for its counts; since then the new page tells the
// server again the reads its browser keeps that the server lacks (`retellReads`, web/src/unread.ts,
// with a unit test). The retry stays until CI has shown the flake gone; a product that is broken
// still fails both tries.
test.describe.configure({ retries: 1 });

function row(p: Person, room: string) {
  return p.page.locator(`[data-testid=room-row][data-room-name="${room}"]`);
}

test.describe("mentions, unread counts and the divider", () => {
  test("an @mention autocompletes, bumps the mention badge, highlights, and the divider shows on return", async ({ browser, server }) => {
    const alice = await Person.open(browser, server, "alice");
    const bob = await Person.open(browser, server, "bob");
    await alice.signInAsGuest();
    await bob.signInAsGuest();
    const room = uniqueName("mention");
    await alice.createRoom(room);
    await bob.openRoom(room);
    await bob.send("hello from bob");
    await expect(alice.message("hello from bob")).toBeVisible();

    // Bob looks elsewhere.
    await bob.openRoom("General");

    // Alice writes "@" and the first letters of Bob's name: the popup offers him; Enter picks.
    await alice.send("before the mention");
    await alice.composer().fill(`hey @${bob.name.slice(0, 4)}`);
    const popup = alice.page.getByTestId("slash-popup");
    await expect(popup.getByRole("option", { name: new RegExp(`@${bob.name}`) })).toBeVisible();
    await expect(popup.getByRole("option", { name: /@here/ })).toHaveCount(0);
    await alice.composer().press("Enter");
    await expect(alice.composer()).toHaveValue(`hey @${bob.name} `);
    await alice.composer().pressSequentially("the deploy is yours");
    await alice.composer().press("Enter");
    await expect(alice.message("the deploy is yours")).toHaveAttribute("data-state", "sent");

    // Bob's room list: two unread, one mention; the tab title counts them.
    await bob.showSidebar();
    await expect(row(bob, room).getByTestId("unread")).toHaveText("2");
    await expect(row(bob, room).getByTestId("mentions")).toHaveText("@1");
    await expect(bob.page).toHaveTitle(/^\(2\) /);
    await bob.page.screenshot({ path: path.join(screenshotDir, "unread-badges.png") });

    // He comes back: the divider sits above the first message he hasn't seen; the mention is highlighted.
    await bob.openRoom(room);
    const divider = bob.page.getByTestId("new-divider");
    await expect(divider).toHaveText("New since you left");
    const mention = bob.message("the deploy is yours");
    await expect(mention).toHaveAttribute("data-mentioned", "true");
    await expect(mention.locator(".mention.me")).toHaveText(`@${bob.name}`);
    const order = await bob.page.locator("[data-testid=new-divider], [data-testid=message]").evaluateAll((els) =>
      els.map((e) => (e.getAttribute("data-testid") === "new-divider" ? "DIVIDER" : (e.querySelector("[data-testid=body]")?.textContent ?? ""))),
    );
    expect(order.slice(order.indexOf("DIVIDER") - 1, order.indexOf("DIVIDER") + 2)).toEqual([
      "hello from bob",
      "DIVIDER",
      "before the mention",
    ]);
    await expect(row(bob, room).getByTestId("unread")).toHaveCount(0);
    await expect(bob.page).not.toHaveTitle(/^\(/);

    // Marked read on the server: after a reload there is nothing unread and no divider.
    await bob.page.reload();
    await expect(bob.page.getByTestId("me")).toHaveText(bob.name);
    await bob.openRoom("General");
    await bob.showSidebar();
    await expect(row(bob, room).getByTestId("unread")).toHaveCount(0);
    await alice.close();
    await bob.close();
  });

  test("reading on one device clears the count on another (read markers follow the person)", async ({ browser, server }) => {
    const alice = await Person.open(browser, server, "alice");
    const bob = await Person.open(browser, server, "bob");
    await alice.signInAsGuest();
    const password = "plum-quasar-7-tundra-bells";
    await bob.register(password);
    const room = uniqueName("marker");
    await alice.createRoom(room);
    await bob.openRoom(room);
    await bob.openRoom("General");
    // Bob's second device: another browser context (no shared storage or tabs channel).
    const phone = await browser.newContext({ baseURL: server.url });
    const second = await phone.newPage();
    await second.goto("/");
    await second.getByRole("tab", { name: "Sign in" }).click();
    await second.getByLabel("Username").fill(bob.name);
    await second.getByLabel("Password").fill(password);
    await second.getByRole("button", { name: "Sign in", exact: true }).click();
    await expect(second.getByTestId("me")).toHaveText(bob.name);
    await second.locator('[data-testid=room-row][data-room-name="General"]').click();

    await alice.send("one for bob");
    await alice.send("two for bob");
    await expect(row(bob, room).getByTestId("unread")).toHaveText("2");
    await expect(second.locator(`[data-testid=room-row][data-room-name="${room}"]`).getByTestId("unread")).toHaveText("2");

    await bob.openRoom(room);
    await expect(bob.message("two for bob")).toBeVisible();
    // The other device hears of it from the server (a read_marker frame).
    await expect(second.locator(`[data-testid=room-row][data-room-name="${room}"]`).getByTestId("unread")).toHaveCount(0);
    await phone.close();
    await alice.close();
    await bob.close();
  });

  test("desktop notifications: offered after the first message, shown for a mention, per-room level, service worker registered", async ({ browser, server }) => {
    const alice = await Person.open(browser, server, "alice");
    const bob = await Person.open(browser, server, "bob", { permissions: ["notifications"] });
    // Record the notifications Bob's page shows (headless Chromium has no notification centre).
    await bob.page.addInitScript(() => {
      const shown: { title: string; body: string }[] = [];
      (window as unknown as { __shown: typeof shown }).__shown = shown;
      class Recording {
        static permission = "granted";
        static requestPermission = async () => "granted";
        onclick: (() => void) | null = null;
        constructor(title: string, opts: { body?: string } = {}) {
          shown.push({ title, body: opts.body ?? "" });
        }
        close() {}
      }
      (window as unknown as { Notification: unknown }).Notification = Recording;
    });
    const shown = () => bob.page.evaluate(() => (window as unknown as { __shown: { title: string; body: string }[] }).__shown);
    await alice.signInAsGuest();
    await bob.signInAsGuest();
    const room = uniqueName("notify");
    await alice.createRoom(room);
    await bob.openRoom(room);

    // With permission granted, the service worker is registered for push.
    await expect
      .poll(() => bob.page.evaluate(async () => (await navigator.serviceWorker.getRegistration())?.active?.scriptURL ?? ""))
      .toMatch(/\/sw\.js$/);

    // Alice (no permission yet) is offered notifications after her first message, not before.
    await expect(alice.page.getByTestId("notify-prompt")).toHaveCount(0);
    await alice.send("first message from alice");
    await alice.showSidebar();
    await expect(alice.page.getByTestId("notify-prompt")).toBeVisible();
    await alice.page.getByTestId("notify-prompt").getByRole("button", { name: "Not now" }).click();
    await expect(alice.page.getByTestId("notify-prompt")).toHaveCount(0);

    // Bob looks at another room: a plain message doesn't notify (rooms default to mentions), a mention does.
    await bob.openRoom("General");
    await alice.send("nothing for bob here");
    await alice.send(`@${bob.name} please review`);
    await expect.poll(async () => (await shown()).map((n) => n.body)).toEqual([`@${bob.name} please review`]);
    expect((await shown())[0].title).toContain(alice.name);

    // "All messages" in that room: every message notifies.
    await bob.openRoom(room);
    await bob.page.getByRole("button", { name: "Room options" }).click();
    await bob.page.getByRole("menuitemradio", { name: "All messages" }).click();
    await bob.page.getByRole("button", { name: "Room options" }).click();
    await expect(bob.page.getByRole("menuitemradio", { name: "All messages" })).toHaveAttribute("aria-checked", "true");
    await bob.page.keyboard.press("Escape");
    await bob.openRoom("General");
    await alice.send("now everything reaches bob");
    await expect.poll(async () => (await shown()).map((n) => n.body)).toContain("now everything reaches bob");
    await alice.close();
    await bob.close();
  });
});
