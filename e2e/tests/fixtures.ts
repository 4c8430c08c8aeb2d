/**
 * Test fixtures: a real server per worker (or per test when it must be restarted), and a page
 * object per person. Waiting is always `expect`/`expect.poll`, never a fixed sleep.
 */
import { test as base, expect, type Browser, type BrowserContext, type Locator, type Page } from "@playwright/test";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, existsSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const binary = path.resolve(repoRoot, process.env.PALAVER_BIN ?? "target/debug/palaver");
export const screenshotDir = path.join(repoRoot, "e2e", "screenshots");
/**
 * E2E_WEB_DIST: the browsers get this UI build instead of the binary's own. A debug binary serves
 * the web/dist of the tree it was built in, so a branch that changes only the UI can test its
 * build against a server built elsewhere. Service workers are blocked then (their requests would
 * pass the routes by), so the specs of the installable app need the binary's own UI.
 */
const webDist = process.env.E2E_WEB_DIST ? path.resolve(process.env.E2E_WEB_DIST) : null;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** One running `palaver`, restartable on the same port and data dir. */
export class Server {
  private child: ChildProcess | null = null;
  private logs: string[] = [];
  readonly dataDir = mkdtempSync(path.join(tmpdir(), "palaver-e2e-"));
  port = 0;

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (!existsSync(binary)) throw new Error(`palaver binary not found at ${binary} (set PALAVER_BIN)`);
    if (!this.port) this.port = await freePort();
    const child = spawn(binary, ["--listen", `127.0.0.1:${this.port}`, "--data-dir", this.dataDir], {
      cwd: repoRoot,
      env: {
        ...process.env,
        RUST_LOG: process.env.RUST_LOG ?? "warn",
        // Every browser here signs in from 127.0.0.1 and the long-room test seeds 130 messages
        // from one user: the abuse limits (tested by the server's own suite) are switched off.
        PALAVER_RATE_PER_SEC: "0",
        PALAVER_LOGIN_PER_ADDRESS_PER_MIN: "0",
        PALAVER_GUESTS_PER_ADDRESS_PER_MIN: "0",
        PALAVER_GUESTS_PER_MIN: "0",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child = child;
    const keep = (b: Buffer) => {
      this.logs.push(b.toString());
      if (this.logs.length > 200) this.logs.shift();
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`palaver exited early:\n${this.logs.join("")}`);
      try {
        const res = await fetch(`${this.url}/healthz`);
        if (res.ok) return;
      } catch {
        // not up yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`palaver did not become healthy:\n${this.logs.join("")}`);
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  dispose(): void {
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  recentLogs(): string {
    return this.logs.join("");
  }
}

let nameSeq = 0;
export function uniqueName(prefix: string): string {
  nameSeq += 1;
  return `${prefix}${process.pid % 1000}${nameSeq}${Math.floor(Math.random() * 1000)}`.slice(0, 32);
}

/** One person in one browser context. Uncaught page errors fail the test when it closes. */
export class Person {
  readonly pageErrors: string[] = [];
  /** The socket frames and REST event fetches this person's pages saw, for failure reports. */
  readonly log: string[] = [];

  constructor(
    readonly name: string,
    readonly context: BrowserContext,
    readonly page: Page,
    readonly server: Server,
  ) {}

  static async open(browser: Browser, server: Server, prefix: string, opts: Parameters<Browser["newContext"]>[0] = {}) {
    const context = await browser.newContext({ baseURL: server.url, ...(webDist ? { serviceWorkers: "block" } : {}), ...opts });
    if (webDist) await serveUi(context, server, webDist);
    const page = await context.newPage();
    const person = new Person(uniqueName(prefix), context, page, server);
    context.on("weberror", (e) => person.pageErrors.push(e.error().message));
    const note = (line: string) => {
      person.log.push(`${new Date().toISOString().slice(11, 23)} ${line.slice(0, 400)}`);
      if (person.log.length > 2000) person.log.shift();
    };
    context.on("page", (p) => watch(p));
    const watch = (p: Page) => {
      p.on("websocket", (ws) => {
        note(`ws open ${ws.url()}`);
        ws.on("framesent", (f) => note(`> ${String(f.payload)}`));
        ws.on("framereceived", (f) => note(`< ${String(f.payload)}`));
        ws.on("close", () => note("ws closed"));
      });
      p.on("request", (r) => {
        if (r.url().includes("/api/")) note(`${r.method()} ${r.url()}`);
      });
    };
    watch(page);
    openPeople.add(person);
    return person;
  }

  async signInAsGuest(query = ""): Promise<void> {
    await this.page.goto(`/${query}`);
    await this.page.getByLabel("Username").fill(this.name);
    await this.page.getByRole("button", { name: "Continue as guest" }).click();
    await expect(this.page.getByTestId("me")).toHaveText(this.name);
  }

  /** Register an account (on a fresh install the first one becomes the site admin). */
  async register(password = "plum-quasar-7-tundra-bells", opts: { keepWelcome?: boolean } = {}): Promise<boolean> {
    await this.page.goto("/");
    await this.page.getByRole("tab", { name: "Register" }).click();
    await this.page.getByLabel("Username").fill(this.name);
    await this.page.getByLabel("Password").fill(password);
    const answer = this.page.waitForResponse((r) => r.url().endsWith("/api/auth/register"));
    await this.page.getByRole("button", { name: "Create account" }).click();
    const firstAdmin = ((await (await answer).json()) as { first_admin?: boolean }).first_admin === true;
    await expect(this.page.getByTestId("me")).toHaveText(this.name);
    // The first account of a server is welcomed as its admin; other tests just want to chat.
    if (firstAdmin && !opts.keepWelcome) {
      await this.page.getByRole("dialog", { name: "You're the admin of this Palaver" }).getByRole("button", { name: "Later" }).click();
    }
    return firstAdmin;
  }

  /** Open the drawer first on a phone-sized screen. */
  async showSidebar(): Promise<void> {
    const phone = (this.page.viewportSize()?.width ?? 1200) < 760;
    if (phone) await this.page.getByRole("button", { name: "Open rooms" }).click();
  }

  /** The direct conversation in the sidebar whose room name (usernames joined) includes `username`. */
  dmRow(username: string) {
    return this.page.locator("[data-testid=dm-rooms] [data-testid=room-row]").filter({ hasText: username });
  }

  /** Create a room from the sidebar's dialog; lands in it. */
  async createRoom(name: string, kind: "Public" | "Private" = "Public", topic = ""): Promise<void> {
    await this.showSidebar();
    await this.page.getByRole("button", { name: "Create a room" }).click();
    const dialog = this.page.getByRole("dialog", { name: "Create a room" });
    await dialog.getByLabel("Name").fill(name);
    if (topic) await dialog.getByLabel("Topic (optional)").fill(topic);
    await dialog.getByRole("radio", { name: new RegExp(`^${kind}`) }).check();
    await dialog.getByRole("button", { name: "Create", exact: true }).click();
    await expect(this.page.locator("#room-title")).toContainText(name);
    // The room is loaded (its timeline shows) before anyone types, as openRoom waits for it.
    await expect(this.page.getByTestId("messages")).toBeVisible();
  }

  /** A quiet line in the timeline (joined, left, moderation). */
  notice(text: string | RegExp) {
    return this.page.getByTestId("notice").filter({ hasText: text });
  }

  toast(text: string | RegExp) {
    return this.page.locator(".toast").filter({ hasText: text });
  }

  async openRoom(name: string): Promise<void> {
    const phone = (this.page.viewportSize()?.width ?? 1200) < 760;
    if (phone) await this.page.getByRole("button", { name: "Open rooms" }).click();
    await this.page.locator(`[data-testid=room-row][data-room-name="${name}"]`).click();
    await expect(this.page.locator("#room-title")).toContainText(name);
    await expect(this.page.getByTestId("messages")).toBeVisible();
  }

  /** Rest a finger on `target` (touch screens) until a message's action sheet opens, then lift it. */
  async longPress(target: Locator): Promise<void> {
    const box = await target.boundingBox();
    if (!box) throw new Error("no layout");
    const cdp = await this.context.newCDPSession(this.page);
    const at = [{ x: box.x + box.width / 2, y: box.y + box.height / 2, id: 1 }];
    await cdp.send("Input.dispatchTouchEvent", { type: "touchStart", touchPoints: at });
    await expect(this.page.getByRole("dialog", { name: "Message actions" })).toBeVisible();
    await cdp.send("Input.dispatchTouchEvent", { type: "touchEnd", touchPoints: [] });
    await cdp.detach();
  }

  composer() {
    // "Message #room" in a room, "Message bob" in a direct conversation.
    return this.page.getByRole("textbox", { name: /^Message / });
  }

  async send(text: string): Promise<void> {
    await this.composer().fill(text);
    await this.composer().press("Enter");
  }

  messageItems() {
    return this.page.getByTestId("message");
  }

  /** Bodies on screen, top to bottom. */
  async bodies(): Promise<string[]> {
    return this.page.locator("[data-testid=message] [data-testid=body]").evaluateAll((els) =>
      els.map((e) => (e.firstChild?.textContent ?? "").trim()),
    );
  }

  message(text: string) {
    return this.page.locator("[data-testid=message]").filter({ has: this.page.locator("[data-testid=body]", { hasText: text }) });
  }

  /** The message whose body is exactly `text`. */
  exactMessage(text: string) {
    const exact = new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`);
    return this.page.locator("[data-testid=message]").filter({ has: this.page.locator("[data-testid=body]", { hasText: exact }) });
  }

  async connectionState(): Promise<string | null> {
    return this.page.getByTestId("connection").getAttribute("data-state");
  }

  async roomId(name: string): Promise<string> {
    const res = await this.page.request.get("/api/rooms");
    const rooms = (await res.json()) as { id: string; name: string }[];
    const room = rooms.find((r) => r.name === name);
    if (!room) throw new Error(`no room ${name}`);
    return room.id;
  }

  /** The newest page of the server's history of a room (what the UI loads first), in display order. */
  async serverBodies(roomName: string): Promise<string[]> {
    const id = await this.roomId(roomName);
    const res = await this.page.request.get(`/api/rooms/${id}/messages?limit=50`);
    const page = (await res.json()) as { messages: { body: string }[] };
    return page.messages.map((m) => m.body);
  }

  async close(): Promise<void> {
    await this.context.close();
    expect(this.pageErrors, `uncaught errors in ${this.name}'s pages`).toEqual([]);
  }
}

/** Answer the UI's files from `dist`; what the server answers with its UI page gets `dist`'s. */
async function serveUi(context: BrowserContext, server: Server, dist: string): Promise<void> {
  const host = new URL(server.url).host;
  await context.route(
    (url) => url.host === host && !url.pathname.startsWith("/api/") && url.pathname !== "/ws",
    async (route) => {
      const file = path.join(dist, decodeURIComponent(new URL(route.request().url()).pathname));
      if (file.startsWith(dist + path.sep) && existsSync(file) && statSync(file).isFile()) {
        await route.fulfill({ path: file });
        return;
      }
      const answer = await route.fetch();
      const page = (answer.headers()["content-type"] ?? "").startsWith("text/html");
      await route.fulfill(page ? { response: answer, path: path.join(dist, "index.html") } : { response: answer });
    },
  );
}

type WorkerFixtures = { server: Server };

const openPeople = new Set<Person>();

export const test = base.extend<{ failureLogs: void }, WorkerFixtures>({
  // On failure, attach what every person's browser sent and received: the first thing to read.
  failureLogs: [
    // eslint-disable-next-line no-empty-pattern
    async ({}, use, testInfo) => {
      openPeople.clear();
      await use();
      if (testInfo.status !== testInfo.expectedStatus) {
        for (const p of openPeople) await testInfo.attach(`${p.name}.log`, { body: p.log.join("\n") });
      }
      openPeople.clear();
    },
    { auto: true },
  ],
  server: [
    // eslint-disable-next-line no-empty-pattern
    async ({}, use) => {
      const server = new Server();
      await server.start();
      await use(server);
      await server.stop();
      server.dispose();
    },
    { scope: "worker" },
  ],
});

export { expect };
