import path from "node:path";
import { Person, expect, screenshotDir, test, uniqueName } from "./fixtures";

test.describe("reactions and pins", () => {
  test("a reaction is seen by the other, with who reacted, and toggles", async ({ browser, server }) => {
    const alice = await Person.open(browser, server, "alice");
    const bob = await Person.open(browser, server, "bob");
    await alice.signInAsGuest();
    await bob.signInAsGuest();
    const room = uniqueName("react");
    await alice.createRoom(room);
    await bob.openRoom(room);

    await alice.send("We shipped it!");
    const bobMsg = bob.message("We shipped it!");
    await bobMsg.hover();
    await bobMsg.getByRole("button", { name: "React", exact: true }).click();
    await bob.page.getByRole("button", { name: "React with 🎉" }).click();

    const aliceMsg = alice.message("We shipped it!");
    const party = aliceMsg.locator("[data-testid=reaction][data-emoji='🎉']");
    await expect(party).toContainText("1");
    await expect(party).toHaveAttribute("title", new RegExp(bob.name));
    await expect(party).toHaveAttribute("aria-pressed", "false");

    // Alice adds hers: two, and hers is marked; Bob sees two as well.
    await party.click();
    await expect(party).toContainText("2");
    await expect(party).toHaveAttribute("aria-pressed", "true");
    const bobParty = bobMsg.locator("[data-testid=reaction][data-emoji='🎉']");
    await expect(bobParty).toContainText("2");
    await expect(bobParty).toHaveAttribute("title", /you/);

    // Bob takes his back.
    await bobParty.click();
    await expect(party).toContainText("1");
    await expect(party).toHaveAttribute("title", /you/);

    // The picker: search for an emoji by name; Escape closes it.
    await aliceMsg.hover();
    await aliceMsg.getByRole("button", { name: "React", exact: true }).click();
    const picker = alice.page.getByTestId("emoji-picker");
    await picker.getByRole("searchbox", { name: "Search emoji" }).fill("rocket");
    await picker.getByRole("button", { name: "rocket", exact: true }).click();
    await expect(bobMsg.locator("[data-testid=reaction][data-emoji='🚀']")).toContainText("1");
    await aliceMsg.hover();
    await aliceMsg.getByRole("button", { name: "React", exact: true }).click();
    await expect(picker).toBeVisible();
    await alice.page.keyboard.press("Escape");
    await expect(picker).toHaveCount(0);

    // Survives a reload (the reactions are on the message from the server).
    await bob.page.reload();
    await expect(bob.message("We shipped it!").locator("[data-testid=reaction][data-emoji='🎉']")).toContainText("1");
    await alice.page.screenshot({ path: path.join(screenshotDir, "reactions-light.png") });
    await alice.close();
    await bob.close();
  });

  test("the owner pins a message; everyone sees the mark and the pinned list", async ({ browser, server }) => {
    const alice = await Person.open(browser, server, "alice");
    const bob = await Person.open(browser, server, "bob");
    await alice.signInAsGuest();
    await bob.signInAsGuest();
    const room = uniqueName("pins");
    await alice.createRoom(room);
    await bob.openRoom(room);
    await alice.send("Read the runbook before deploying");
    await alice.send("unrelated chatter");

    const msg = alice.message("Read the runbook");
    await msg.hover();
    await msg.getByRole("button", { name: "Pin", exact: true }).click();
    await expect(bob.message("Read the runbook").getByTestId("pinned")).toBeVisible();
    await bob.page.getByTestId("pins-toggle").click();
    const pins = bob.page.getByTestId("pins-panel");
    await expect(pins.getByTestId("pin")).toHaveCount(1);
    await expect(pins.getByTestId("pin")).toContainText("Read the runbook before deploying");
    await bob.page.keyboard.press("Escape");
    await expect(pins).toHaveCount(0);

    await msg.hover();
    await msg.getByRole("button", { name: "Unpin" }).click();
    await expect(bob.message("Read the runbook").getByTestId("pinned")).toHaveCount(0);
    await alice.close();
    await bob.close();
  });
});
