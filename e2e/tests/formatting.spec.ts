import path from "node:path";
import { Person, expect, screenshotDir, test, uniqueName } from "./fixtures";

test.describe("message formatting", () => {
  test("markdown renders for everyone, and hostile markdown never runs", async ({ browser, server }) => {
    const alice = await Person.open(browser, server, "alice");
    const bob = await Person.open(browser, server, "bob");
    const dialogs: string[] = [];
    for (const p of [alice, bob]) p.page.on("dialog", (d) => void (dialogs.push(d.message()), d.dismiss()));
    await alice.signInAsGuest();
    await bob.signInAsGuest();
    const room = uniqueName("fmt");
    await alice.createRoom(room);
    await bob.openRoom(room);

    await alice.send("**bold** _italic_ ~~gone~~ `npm ci` :tada: see https://example.com/x and [the docs](https://example.com/docs)");
    const msg = bob.message("bold");
    await expect(msg).toBeVisible();
    const body = msg.getByTestId("body");
    await expect(body.locator("strong")).toHaveText("bold");
    await expect(body.locator("em")).toHaveText("italic");
    await expect(body.locator("del")).toHaveText("gone");
    await expect(body.locator("code")).toHaveText("npm ci");
    await expect(body).toContainText("🎉");
    const docs = body.getByRole("link", { name: "the docs" });
    await expect(docs).toHaveAttribute("href", "https://example.com/docs");
    await expect(docs).toHaveAttribute("target", "_blank");
    await expect(docs).toHaveAttribute("rel", "noopener noreferrer");
    await expect(body.getByRole("link", { name: "https://example.com/x" })).toHaveAttribute("rel", "noopener noreferrer");

    await alice.send("```rust\nfn main() { println!(\"hi\"); }\n```");
    const code = bob.page.locator("[data-testid=body] pre code.language-rust");
    await expect(code).toContainText("fn main()");
    await expect(code.locator(".hljs-keyword").first()).toHaveText("fn");

    await alice.send("> a quote\n\n- one\n- two\n\n# not a heading");
    const listMsg = bob.message("a quote");
    await expect(listMsg.locator("blockquote")).toHaveText("a quote");
    await expect(listMsg.locator("li")).toHaveCount(2);
    await expect(listMsg.getByTestId("body")).toContainText("# not a heading");
    await expect(listMsg.locator("h1")).toHaveCount(0);

    const hostile = [
      "[click me](javascript:alert(1))",
      "[data link](data:text/html,<script>alert(2)</script>)",
      "[vb](vbscript:msgbox(3))",
      "<img src=x onerror=alert(4)> **<script>alert(5)</script>**",
      "[**nested [x](javascript:alert(6))**](https://example.com/ok)",
    ];
    for (const text of hostile) await alice.send(text);
    await expect(bob.message("click me")).toBeVisible();
    await expect(bob.message("nested")).toBeVisible();
    for (const p of [alice, bob]) {
      const bodies = p.page.locator("[data-testid=message] [data-testid=body]");
      await expect(bodies.locator("script, img, iframe, svg")).toHaveCount(0);
      await expect(bodies.locator("a[href^='javascript'], a[href^='data'], a[href^='vbscript'], a:not([href])")).toHaveCount(0);
      // The would-be links are plain text: clicking them does nothing.
      await p.message("click me").getByText("click me").click();
      await p.message("data link").getByText("data link").click();
      const handlers = await bodies.evaluateAll((els) =>
        els.flatMap((el) => [...el.querySelectorAll("*")].flatMap((n) => n.getAttributeNames().filter((a) => a.startsWith("on")))),
      );
      expect(handlers).toEqual([]);
    }
    // The literal HTML shows as typed text.
    await expect(bob.message("<img src=x onerror=alert(4)>")).toBeVisible();
    expect(dialogs).toEqual([]);

    // A long message collapses behind "Show more".
    const long = Array.from({ length: 30 }, (_, i) => `line ${i + 1} of a long message`).join("\n");
    await alice.send(long);
    const longMsg = bob.message("line 1 of a long message");
    await expect(longMsg.getByTestId("show-more")).toHaveText("Show more");
    await expect(longMsg.locator(".msg-text.collapsed")).toHaveCount(1);
    await longMsg.getByTestId("show-more").click();
    await expect(longMsg.getByTestId("show-more")).toHaveText("Show less");
    await expect(longMsg.locator(".msg-text.collapsed")).toHaveCount(0);
    await longMsg.getByTestId("show-more").click();

    await bob.message("bold").scrollIntoViewIfNeeded();
    await bob.page.screenshot({ path: path.join(screenshotDir, "formatting-light.png") });
    await bob.page.emulateMedia({ colorScheme: "dark" });
    await bob.page.screenshot({ path: path.join(screenshotDir, "formatting-dark.png") });
    expect(dialogs).toEqual([]);
    await alice.close();
    await bob.close();
  });

  test("ArrowUp in an empty composer edits your last message", async ({ browser, server }) => {
    const alice = await Person.open(browser, server, "alice");
    await alice.signInAsGuest();
    await alice.createRoom(uniqueName("edit"));
    await alice.send("first *draft*");
    await expect(alice.message("first draft")).toHaveAttribute("data-state", "sent");
    await alice.composer().press("ArrowUp");
    const editor = alice.page.getByLabel("Edit message");
    await expect(editor).toHaveValue("first *draft*");
    await editor.fill("first **final**");
    await editor.press("Enter");
    await expect(alice.message("first final").locator("strong")).toHaveText("final");
    await expect(alice.message("first final").getByTestId("edited")).toBeVisible();
    await alice.close();
  });
});
