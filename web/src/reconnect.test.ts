import { describe, expect, it } from "vitest";
import { FAST_RETRIES_MS, RETRY_CAP_MS, reconnectDelay } from "./reconnect";

describe("the reconnect policy", () => {
  it("retries fast three times, whatever the dice say", () => {
    for (const dice of [0, 0.5, 0.999]) {
      expect([1, 2, 3].map((n) => reconnectDelay(n, () => dice))).toEqual([...FAST_RETRIES_MS]);
    }
    expect(reconnectDelay(0)).toBe(0);
  });

  it("then backs off exponentially with full jitter: anywhere from 0 to the ceiling", () => {
    const top = (n: number) => reconnectDelay(n, () => 1);
    expect([4, 5, 6, 7, 8].map(top)).toEqual([2000, 4000, 8000, 16_000, 30_000]);
    expect([4, 5, 6].map((n) => reconnectDelay(n, () => 0))).toEqual([0, 0, 0]);
    expect(reconnectDelay(5, () => 0.5)).toBe(2000);
  });

  it("never waits longer than the cap, however long the outage", () => {
    for (const n of [9, 20, 100, 10_000]) {
      expect(reconnectDelay(n, () => 0.999999)).toBeLessThanOrEqual(RETRY_CAP_MS);
    }
    expect(reconnectDelay(50, () => 1, 5000)).toBe(5000);
  });
});
