import { request } from "@playwright/test";
import { Person, expect, test, uniqueName } from "./fixtures";

test("edit and delete: the author changes their message, everyone sees it; others can't", async ({ browser, server }) => {
  const alice = await Person.open(browser, server, "alice");
  const bob = await Person.open(browser, server, "bob");
  await alice.signInAsGuest();
  await bob.signInAsGuest();
  await alice.openRoom("Random");
  await bob.openRoom("Random");
  await alice.send("I mispelled this");
  await alice.send("delete me");
  await expect(bob.message("delete me")).toBeVisible();

  const typo = alice.message("I mispelled this");
  await typo.hover();
  await typo.getByRole("button", { name: "Edit" }).click();
  await alice.page.getByLabel("Edit message").fill("I misspelled this");
  await alice.page.getByLabel("Edit message").press("Enter");
  await expect(bob.message("I misspelled this").getByTestId("edited")).toBeVisible();

  // Bob is a plain member: no edit or delete on Alice's message.
  await bob.message("delete me").hover();
  await expect(bob.message("delete me").getByRole("button", { name: "Delete" })).toHaveCount(0);
  await expect(bob.message("delete me").getByRole("button", { name: "Edit" })).toHaveCount(0);

  await alice.message("delete me").hover();
  await alice.message("delete me").getByRole("button", { name: "Delete" }).click();
  await expect(bob.message("delete me")).toHaveCount(0);
  await expect(alice.message("delete me")).toHaveCount(0);
  await expect.poll(() => bob.bodies()).toEqual(await bob.serverBodies("Random"));
  await alice.close();
  await bob.close();
});

test("a long room loads older messages on scroll up and offers 'N new messages'", async ({ browser, server }) => {
  // Signed in by cookie, a state change must show it comes from the server's own origin (CSRF).
  const seeder = await request.newContext({ baseURL: server.url, extraHTTPHeaders: { Origin: server.url } });
  const res = await seeder.post("/api/auth/guest", { data: { username: uniqueName("seed") } });
  expect(res.ok()).toBeTruthy();
  const room = (await (await seeder.post("/api/rooms", { data: { name: uniqueName("Long") } })).json()) as {
    id: string;
    name: string;
  };
  const post = (i: number) =>
    seeder.post(`/api/rooms/${room.id}/messages`, { data: { client_id: `seed-${i}`, body: `seed ${i}` } });
  for (let i = 1; i <= 130; i++) expect((await post(i)).ok()).toBeTruthy();

  const alice = await Person.open(browser, server, "alice");
  await alice.signInAsGuest();
  await alice.openRoom(room.name);
  await expect(alice.message("seed 130")).toBeVisible();
  await expect(alice.exactMessage("seed 1")).toHaveCount(0);

  const list = alice.page.getByTestId("messages");
  await expect
    .poll(
      async () => {
        await list.evaluate((el) => (el.scrollTop = 0));
        return alice.exactMessage("seed 1").count();
      },
      { timeout: 20_000 },
    )
    .toBe(1);
  const bodies = await alice.bodies();
  expect(bodies).toEqual(Array.from({ length: 130 }, (_, i) => `seed ${i + 1}`));

  // Scrolled up, new messages don't yank the view: a pill counts them.
  await post(131);
  await post(132);
  const pill = alice.page.getByTestId("new-messages");
  await expect(pill).toHaveText("2 new messages ↓");
  await pill.click();
  await expect(alice.message("seed 132")).toBeInViewport();
  await expect(pill).toHaveCount(0);
  await seeder.dispose();
  await alice.close();
});
