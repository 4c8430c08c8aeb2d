import { Person, expect, test } from "./fixtures";

test("tabs of one browser share theme, read state and sign-out; unread counts show", async ({ browser, server }) => {
  const bob = await Person.open(browser, server, "bob");
  const alice = await Person.open(browser, server, "alice");
  await bob.signInAsGuest();
  await alice.signInAsGuest();
  await bob.openRoom("Tech Talk"); // follow it
  await bob.openRoom("General");
  await alice.openRoom("Tech Talk");

  const second = await bob.context.newPage();
  await second.goto("/");
  await expect(second.getByTestId("me")).toHaveText(bob.name);

  // Theme chosen in one tab applies in the other.
  await bob.page.getByRole("radio", { name: "Dark" }).click();
  await expect(second.locator("html")).toHaveAttribute("data-theme", "dark");
  await bob.page.getByRole("radio", { name: "Light" }).click();
  await expect(second.locator("html")).toHaveAttribute("data-theme", "light");

  // A message in a room bob follows but isn't looking at: unread in both tabs.
  await alice.send("psst, over here");
  const techRow = (page: typeof second) => page.locator('[data-testid=room-row][data-room-name="Tech Talk"]');
  await expect(techRow(bob.page).getByTestId("unread")).toHaveText("1");
  await expect(techRow(second).getByTestId("unread")).toHaveText("1");
  // Reading it in one tab clears it in the other.
  await techRow(second).click();
  await expect(second.getByText("psst, over here")).toBeVisible();
  await expect(techRow(bob.page).getByTestId("unread")).toHaveCount(0);

  // Signing out in one tab signs out the other.
  await bob.page.getByRole("button", { name: "Sign out" }).click();
  // A guest is told how long the name stays reserved before signing out.
  const confirm = bob.page.getByRole("dialog", { name: "Sign out?" });
  await expect(confirm).toContainText("Guest names are");
  await confirm.getByRole("button", { name: "Sign out" }).click();
  await expect(second.getByRole("button", { name: "Continue as guest" })).toBeVisible();
  await bob.close();
  await alice.close();
});
