import { Person, expect, screenshotDir, test } from "./fixtures";

test.describe("files", () => {
  test("alice pastes an image, bob sees the thumbnail and opens it", async ({ browser, server }) => {
    const alice = await Person.open(browser, server, "alice");
    const bob = await Person.open(browser, server, "bob");
    await alice.signInAsGuest();
    await bob.signInAsGuest();
    await alice.openRoom("General");
    await bob.openRoom("General");

    // A 640×400 PNG made in the page, pasted into the composer as a file.
    await alice.composer().click();
    await alice.composer().evaluate(async (textarea) => {
      const canvas = document.createElement("canvas");
      canvas.width = 640;
      canvas.height = 400;
      const g = canvas.getContext("2d")!;
      const gradient = g.createLinearGradient(0, 0, 640, 400);
      gradient.addColorStop(0, "#2b6cb0");
      gradient.addColorStop(1, "#f6ad55");
      g.fillStyle = gradient;
      g.fillRect(0, 0, 640, 400);
      g.fillStyle = "#fff";
      g.font = "48px sans-serif";
      g.fillText("pasted", 220, 215);
      const blob = await new Promise<Blob>((resolve) => canvas.toBlob((b) => resolve(b!), "image/png"));
      const data = new DataTransfer();
      data.items.add(new File([blob], "sunset.png", { type: "image/png" }));
      textarea.dispatchEvent(new ClipboardEvent("paste", { clipboardData: data, bubbles: true, cancelable: true }));
    });
    const upload = alice.page.getByTestId("upload");
    await expect(upload).toHaveAttribute("data-state", "done");
    await alice.send("Look at this");

    const message = bob.message("Look at this");
    const thumbnail = message.getByTestId("thumbnail");
    await expect(thumbnail).toBeVisible();
    // Its box is known before it loads: 320×200 for a 640×400 image.
    await expect(thumbnail).toHaveAttribute("width", "320");
    await expect(thumbnail).toHaveAttribute("height", "200");
    await expect.poll(() => thumbnail.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBe(320);
    await bob.page.screenshot({ path: `${screenshotDir}/files-thumbnail.png` });

    await message.getByRole("button", { name: "Open image sunset.png" }).click();
    const full = bob.page.getByTestId("lightbox-image");
    await expect(full).toBeVisible();
    await expect.poll(() => full.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBe(640);
    await bob.page.screenshot({ path: `${screenshotDir}/files-lightbox.png` });
    await bob.page.keyboard.press("Escape");
    await expect(full).toBeHidden();

    // Alice sees her own message with the image too, once.
    await expect(alice.message("Look at this").getByTestId("thumbnail")).toHaveCount(1);
    await alice.close();
    await bob.close();
  });
});
