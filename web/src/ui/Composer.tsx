import { useLayoutEffect, useRef, useState } from "react";
import { notifyTyping, sendMessage } from "../chat";
import { MAX_BODY_CHARS } from "../protocol";

const COUNTER_FROM = MAX_BODY_CHARS - 500;

/** Keeps the draft per room for this tab, so switching rooms doesn't lose half a sentence. */
const drafts = new Map<string, string>();

export function Composer({ roomId, roomName }: { roomId: string; roomName: string }) {
  const [text, setText] = useState(() => drafts.get(roomId) ?? "");
  const ref = useRef<HTMLTextAreaElement>(null);
  const length = [...text.trim()].length;
  const over = length > MAX_BODY_CHARS;

  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    el.style.height = "auto";
    el.style.height = `${Math.min(el.scrollHeight, 200)}px`;
  }, [text]);

  function update(value: string) {
    setText(value);
    drafts.set(roomId, value);
    if (value.trim()) notifyTyping(roomId);
  }

  function submit() {
    if (over || length === 0) return;
    if (sendMessage(roomId, text)) {
      update("");
      window.dispatchEvent(new CustomEvent("palaver:sent", { detail: roomId }));
    }
  }

  return (
    <form
      className="composer"
      onSubmit={(e) => {
        e.preventDefault();
        submit();
      }}
    >
      <label htmlFor="composer-input" className="sr-only">
        Message #{roomName}
      </label>
      <textarea
        id="composer-input"
        ref={ref}
        rows={1}
        placeholder={`Message #${roomName}`}
        value={text}
        aria-describedby="composer-hint"
        aria-invalid={over}
        onChange={(e) => update(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing) {
            e.preventDefault();
            submit();
          }
        }}
      />
      <div className="composer-side">
        {length >= COUNTER_FROM && (
          <span className={`counter${over ? " over" : ""}`} data-testid="counter" aria-live="polite">
            {MAX_BODY_CHARS - length}
          </span>
        )}
        <button className="btn primary send" type="submit" disabled={over || length === 0} aria-label="Send">
          <svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true">
            <path d="M3 11.5 20 4l-7.5 17-2-7.5z" fill="currentColor" />
          </svg>
        </button>
      </div>
      <span id="composer-hint" className="sr-only">
        Enter sends, Shift+Enter starts a new line.
      </span>
    </form>
  );
}
