/**
 * Issue #15: what a new user notices in the first ten minutes — a room that vanishes, a delete
 * with no way back, a silent move, and the small things.
 */
import { Person, expect, test, uniqueName } from "./fixtures";

test("a deleted room says who deleted it to the members who had it", async ({ browser, server }) => {
  const alice = await Person.open(browser, server, "alice");
  const bob = await Person.open(browser, server, "bob");
  const carol = await Person.open(browser, server, "carol");
  await alice.signInAsGuest();
  await bob.signInAsGuest();
  await carol.signInAsGuest();
  const name = uniqueName("Book Club ");
  await alice.createRoom(name);
  // Bob has it open; Carol has it listed but is looking at General.
  await bob.openRoom(name);
  await carol.openRoom(name);
  await carol.openRoom("General");

  await alice.page.getByRole("button", { name: "Room options" }).click();
  await alice.page.getByRole("menuitem", { name: "Delete room…" }).click();
  await alice.page.getByRole("dialog").getByRole("button", { name: "Delete room" }).click();

  const said = `${name} was deleted by ${alice.name}`;
  await expect(bob.toast(said)).toBeVisible();
  await expect(carol.toast(said)).toBeVisible();
  await expect(bob.page.locator(`[data-testid=room-row][data-room-name="${name}"]`)).toHaveCount(0);
  // The one who deleted it is not told what they just did.
  await expect(alice.page.locator(`[data-testid=room-row][data-room-name="${name}"]`)).toHaveCount(0);
  await expect(alice.toast("was deleted")).toHaveCount(0);
  await alice.close();
  await bob.close();
  await carol.close();
});
