import path from "node:path";
import { Person, expect, screenshotDir, test, uniqueName } from "./fixtures";

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

  test("reading in one tab clears the count in another (read markers follow the person)", async ({ browser, server }) => {
    const alice = await Person.open(browser, server, "alice");
    const bob = await Person.open(browser, server, "bob");
    await alice.signInAsGuest();
    await bob.signInAsGuest();
    const room = uniqueName("marker");
    await alice.createRoom(room);
    await bob.openRoom(room);
    await bob.openRoom("General");
    const second = await bob.context.newPage();
    await second.goto("/");
    await expect(second.getByTestId("me")).toHaveText(bob.name);

    await alice.send("one for bob");
    await alice.send("two for bob");
    await expect(row(bob, room).getByTestId("unread")).toHaveText("2");
    await expect(second.locator(`[data-testid=room-row][data-room-name="${room}"]`).getByTestId("unread")).toHaveText("2");

    await bob.openRoom(room);
    await expect(bob.message("two for bob")).toBeVisible();
    // The other tab hears of it from the server (read_marker), not from this tab.
    await expect(second.locator(`[data-testid=room-row][data-room-name="${room}"]`).getByTestId("unread")).toHaveCount(0);
    await alice.close();
    await bob.close();
  });
});
