/** Messages shared between tabs of the same browser over BroadcastChannel. */
import type { ThemeChoice } from "./store";

export type TabMessage =
  | { type: "theme"; theme: ThemeChoice }
  | { type: "sound"; on: boolean }
  | { type: "signout" }
  | { type: "signin" }
  | { type: "read"; userId: string; roomId: string; seq: number };

export class Tabs {
  private readonly channel: BroadcastChannel | null;

  constructor(onMessage: (msg: TabMessage) => void) {
    this.channel = typeof BroadcastChannel === "undefined" ? null : new BroadcastChannel("palaver");
    if (this.channel) this.channel.onmessage = (ev: MessageEvent<TabMessage>) => onMessage(ev.data);
  }

  post(msg: TabMessage): void {
    this.channel?.postMessage(msg);
  }
}
