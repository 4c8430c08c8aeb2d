/**
 * Touch screens (#15): whether this screen has no hover (a phone or tablet: message actions come
 * from a long press, not a hover toolbar), and the long-press gesture itself.
 */
import { useRef, useSyncExternalStore, type PointerEvent as ReactPointerEvent } from "react";

const NO_HOVER = "(hover: none)";

function subscribe(onChange: () => void): () => void {
  if (typeof window === "undefined" || !window.matchMedia) return () => undefined;
  const query = window.matchMedia(NO_HOVER);
  query.addEventListener("change", onChange);
  return () => query.removeEventListener("change", onChange);
}

function noHover(): boolean {
  return typeof window !== "undefined" && !!window.matchMedia && window.matchMedia(NO_HOVER).matches;
}

/** True on a screen without hover (touch): show no hover toolbars there. */
export function useTouchUi(): boolean {
  return useSyncExternalStore(subscribe, noHover, () => false);
}

/**
 * The finger lifting after a long press may still count as a tap, whose click would land on what
 * the press opened (a sheet's backdrop closes it): swallow that one click. The next touch ends
 * the watch if no click came.
 */
function swallowNextClick(): void {
  const swallow = (e: Event) => {
    e.preventDefault();
    e.stopPropagation();
    stop();
  };
  const stop = () => {
    window.removeEventListener("click", swallow, true);
    window.removeEventListener("pointerdown", stop, true);
  };
  window.addEventListener("click", swallow, true);
  window.addEventListener("pointerdown", stop, true);
}

/** How long a finger rests before it counts as a long press, and how far it may wander. */
export const LONG_PRESS_MS = 450;
const SLOP_PX = 10;

/**
 * Handlers for an element that does `action` on a long touch press (or the context menu a long
 * press opens on Android). A press that moves (a scroll) or lifts early does nothing.
 */
export function useLongPress(action: () => void, enabled = true) {
  const press = useRef<{ timer: ReturnType<typeof setTimeout>; x: number; y: number } | null>(null);
  const cancel = () => {
    if (press.current) clearTimeout(press.current.timer);
    press.current = null;
  };
  if (!enabled) return {};
  return {
    onPointerDown: (e: ReactPointerEvent) => {
      if (e.pointerType !== "touch") return;
      cancel();
      const timer = setTimeout(() => {
        press.current = null;
        swallowNextClick();
        action();
      }, LONG_PRESS_MS);
      press.current = { timer, x: e.clientX, y: e.clientY };
    },
    onPointerMove: (e: ReactPointerEvent) => {
      const p = press.current;
      if (p && Math.hypot(e.clientX - p.x, e.clientY - p.y) > SLOP_PX) cancel();
    },
    onPointerUp: cancel,
    onPointerCancel: cancel,
    onContextMenu: (e: React.MouseEvent) => {
      if (!noHover()) return;
      e.preventDefault();
      const pressing = press.current !== null;
      cancel();
      if (pressing) swallowNextClick();
      action();
    },
  };
}
