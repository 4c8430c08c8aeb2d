import { useEffect, useId, useLayoutEffect, useMemo, useRef, useState } from "react";
import { clearComposerError, notifyTyping } from "../chat";
import { mentionCandidates, membersOf, runCommand } from "../people";
import { MAX_BODY_CHARS } from "../protocol";
import { applySuggestion, completions, mentionCompletion, parseComposer, type Suggestion } from "../slash";
import { useChat } from "../store";
// ---- issue #10: replies, thread replies, @mentions, ArrowUp edits ----
import { displayName } from "../names";
import { previewText } from "../texts";
import { cancelReply, editLastMessage, findMessage, sendFromComposer, sendThreadReply } from "../threads";
import { uploadFile } from "../files";
import { UploadTray, type PendingUpload } from "./Attachments";

const COUNTER_FROM = MAX_BODY_CHARS - 500;

/** Keeps the draft per room for this tab, so switching rooms doesn't lose half a sentence. */
const drafts = new Map<string, string>();

export function Composer({
  roomId,
  roomName,
  direct = false,
  threadId,
}: {
  roomId: string;
  roomName: string;
  direct?: boolean;
  /** #10: the composer of a thread panel (replies go into this thread). */
  threadId?: string;
}) {
  const draftKey = threadId ? `${roomId}:${threadId}` : roomId;
  const inputId = threadId ? "thread-composer-input" : "composer-input";
  const replyTo = useChat((s) => (threadId ? undefined : s.replyTo[roomId]));
  const replying = useChat(() => (replyTo ? findMessage(roomId, replyTo) : undefined));
  const [text, setText] = useState(() => drafts.get(draftKey) ?? "");
  const [caret, setCaret] = useState(() => text.length);
  const [selected, setSelected] = useState(0);
  const [dismissed, setDismissed] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const serverError = useChat((s) => s.composerError[roomId]);
  const members = useChat((s) => s.members[roomId]);
  const ref = useRef<HTMLTextAreaElement>(null);
  /** Where the caret goes once a picked suggestion is in the text box (set before the next key). */
  const pendingCaret = useRef<number | null>(null);
  const popupId = useId();
  const errorId = useId();
  const isCommand = text.trimStart().startsWith("/") && !text.trimStart().startsWith("//");
  const length = [...text.trim()].length;
  const over = !isCommand && length > MAX_BODY_CHARS;
  const shownError = error ?? serverError ?? null;
  // Files (#12): uploads for the next message (added by button, drop or paste).
  const [uploads, setUploads] = useState<PendingUpload[]>([]);
  const fileInput = useRef<HTMLInputElement>(null);
  const uploading = uploads.some((u) => !u.file && !u.error);
  const ready = uploads.flatMap((u) => (u.file ? [u.file] : []));
  const canSend = !busy && !over && !uploading && (length > 0 || ready.length > 0);

  function addFiles(list: FileList | File[]) {
    for (const file of Array.from(list).slice(0, 10)) {
      const key = `${Date.now()}-${Math.random()}`;
      const patch = (change: Partial<PendingUpload>) => setUploads((all) => all.map((u) => (u.key === key ? { ...u, ...change } : u)));
      const upload = uploadFile(file, (progress) => patch({ progress }));
      setUploads((all) => [...all, { key, name: file.name || "pasted file", progress: 0, cancel: upload.cancel }]);
      upload.done.then(
        (stored) => patch({ file: stored, progress: 1 }),
        (err: Error) => {
          if (err.message) patch({ error: err.message });
        },
      );
    }
  }

  // People to complete after "@": load the room's members the first time a command or @ is typed.
  const wantsPeople = isCommand || text.includes("@");
  useEffect(() => {
    if (wantsPeople && !members) void membersOf(roomId);
  }, [wantsPeople, members, roomId]);

  const completion = useMemo(() => {
    if (dismissed) return null;
    // members is read so the list follows the room; the candidates come from the store.
    void members;
    if (!text.startsWith("/")) return mentionCompletion(text.slice(0, caret), mentionCandidates(roomId));
    return completions(text.slice(0, caret), mentionCandidates(roomId));
  }, [text, caret, dismissed, members, roomId]);
  const items = completion?.items ?? [];
  const active = Math.min(selected, Math.max(0, items.length - 1));

  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    el.style.height = "auto";
    el.style.height = `${Math.min(el.scrollHeight, 200)}px`;
    if (pendingCaret.current !== null) {
      el.setSelectionRange(pendingCaret.current, pendingCaret.current);
      pendingCaret.current = null;
    }
  }, [text]);

  function update(value: string, caretAt = value.length) {
    setText(value);
    setCaret(caretAt);
    setSelected(0);
    setDismissed(false);
    setError(null);
    if (serverError) clearComposerError(roomId);
    drafts.set(draftKey, value);
    if (value.trim() && !value.startsWith("/") && !threadId) notifyTyping(roomId);
  }

  function pick(item: Suggestion) {
    if (!completion) return;
    const before = applySuggestion(text.slice(0, caret), completion.start, item);
    const after = text.slice(caret);
    pendingCaret.current = before.length;
    update(before + after, before.length);
    ref.current?.focus();
  }

  async function submit() {
    if (busy) return;
    const parsed = parseComposer(text);
    if (parsed.type === "error") {
      setError(parsed.error);
      return;
    }
    if (parsed.type === "message") {
      if (over || uploading || (length === 0 && ready.length === 0)) return;
      const sent = threadId
        ? sendThreadReply(roomId, threadId, parsed.body, ready)
        : sendFromComposer(roomId, parsed.body, ready);
      if (sent) {
        setUploads([]);
        update("");
        if (!threadId) window.dispatchEvent(new CustomEvent("palaver:sent", { detail: roomId }));
      }
      return;
    }
    setBusy(true);
    const problem = await runCommand(roomId, parsed.command);
    setBusy(false);
    if (problem) {
      setError(problem);
      return;
    }
    // The room may be gone (/leave, /dm opens another): clear this room's draft either way.
    drafts.delete(draftKey);
    setText("");
    setCaret(0);
    if (parsed.command.name === "me") window.dispatchEvent(new CustomEvent("palaver:sent", { detail: roomId }));
  }

  return (
    <div
      className={`composer-wrap${threadId ? " in-thread" : ""}`}
      onDragOver={(e) => {
        if (e.dataTransfer.types.includes("Files")) e.preventDefault();
      }}
      onDrop={(e) => {
        if (e.dataTransfer.files.length === 0) return;
        e.preventDefault();
        addFiles(e.dataTransfer.files);
      }}
    >
      {replyTo && (
        <div className="replying" data-testid="replying">
          <span>
            Replying to <strong>{replying ? displayName(replying.author) : "a message"}</strong>
            {replying && <span className="muted"> — {previewText(replying.body, 80)}</span>}
          </span>
          <button className="icon-btn" aria-label="Cancel reply" title="Cancel reply (Esc)" onClick={() => cancelReply(roomId)}>
            ×
          </button>
        </div>
      )}
      <UploadTray uploads={uploads} onRemove={(key) => setUploads((all) => all.filter((u) => u.key !== key))} />
      {items.length > 0 && (
        <ul className="slash-popup" id={popupId} role="listbox" tabIndex={-1} aria-label={items[0].kind === "command" ? "Commands" : "People"} data-testid="slash-popup">
          {items.map((item, i) => (
            <li
              key={item.kind === "command" ? item.spec.name : item.username}
              id={`${popupId}-${i}`}
              role="option"
              aria-selected={i === active}
              className={i === active ? "active" : ""}
              onMouseDown={(e) => {
                e.preventDefault(); // keep the focus in the text box
                pick(item);
              }}
              onMouseEnter={() => setSelected(i)}
            >
              {item.kind === "command" ? (
                <>
                  <span className="slash-usage">{item.spec.usage}</span>
                  <span className="muted small">{item.spec.help}</span>
                </>
              ) : (
                <>
                  <span className="slash-usage">@{item.username}</span>
                  {item.label !== item.username && <span className="muted small">{item.label}</span>}
                </>
              )}
            </li>
          ))}
        </ul>
      )}
      <form
        className="composer"
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        <label htmlFor={inputId} className="sr-only">
          {threadId ? "Reply in thread" : `Message ${direct ? roomName : `#${roomName}`}`}
        </label>
        <textarea
          id={inputId}
          ref={ref}
          rows={1}
          placeholder={threadId ? "Reply in thread…" : direct ? `Message ${roomName}` : `Message #${roomName}`}
          value={text}
          aria-describedby={`${inputId}-hint${shownError ? ` ${errorId}` : ""}`}
          aria-invalid={over || !!error}
          aria-controls={items.length ? popupId : undefined}
          aria-activedescendant={items.length ? `${popupId}-${active}` : undefined}
          aria-autocomplete="list"
          onChange={(e) => update(e.target.value, e.target.selectionStart ?? e.target.value.length)}
          onPaste={(e) => {
            if (e.clipboardData.files.length === 0) return;
            e.preventDefault();
            addFiles(e.clipboardData.files);
          }}
          onSelect={(e) => setCaret(e.currentTarget.selectionStart ?? text.length)}
          onKeyDown={(e) => {
            if (items.length) {
              if (e.key === "ArrowDown" || e.key === "ArrowUp") {
                e.preventDefault();
                const step = e.key === "ArrowDown" ? 1 : -1;
                setSelected((active + step + items.length) % items.length);
                return;
              }
              if (e.key === "Tab" || (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing && completionWouldChange(text, caret, items[active], completion?.start ?? 0))) {
                e.preventDefault();
                pick(items[active]);
                return;
              }
              if (e.key === "Escape") {
                e.preventDefault();
                setDismissed(true);
                return;
              }
            }
            if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing) {
              e.preventDefault();
              void submit();
            } else if (e.key === "ArrowUp" && !threadId && text === "" && !e.shiftKey && !e.altKey) {
              if (editLastMessage(roomId)) e.preventDefault();
            } else if (e.key === "Escape" && replyTo) {
              e.preventDefault();
              e.stopPropagation();
              cancelReply(roomId);
            }
          }}
        />
        <div className="composer-side">
          <input
            ref={fileInput}
            type="file"
            multiple
            hidden
            data-testid="file-input"
            onChange={(e) => {
              if (e.target.files) addFiles(e.target.files);
              e.target.value = "";
            }}
          />
          <button className="icon-btn attach" type="button" aria-label="Attach files" title="Attach files" onClick={() => fileInput.current?.click()}>
            <svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true">
              <path d="M16.5 6.5 8 15a2 2 0 0 0 2.8 2.8l8.5-8.5a4 4 0 0 0-5.7-5.7L5 12.2a6 6 0 0 0 8.5 8.5l6-6" fill="none" stroke="currentColor" strokeWidth="1.8" strokeLinecap="round" />
            </svg>
          </button>
          {!isCommand && length >= COUNTER_FROM && (
            <span className={`counter${over ? " over" : ""}`} data-testid="counter" aria-live="polite">
              {MAX_BODY_CHARS - length}
            </span>
          )}
          <button className="btn primary send" type="submit" disabled={!canSend} aria-label="Send">
            <svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true">
              <path d="M3 11.5 20 4l-7.5 17-2-7.5z" fill="currentColor" />
            </svg>
          </button>
        </div>
        <span id={`${inputId}-hint`} className="sr-only">
          Enter sends, Shift+Enter starts a new line. Type / for commands, @ to mention someone, **bold**, *italic*,
          `code`. Arrow up in an empty box edits your last message.
        </span>
      </form>
      {shownError && (
        <p className="composer-error" id={errorId} role="alert" data-testid="composer-error">
          {shownError}
        </p>
      )}
    </div>
  );
}

/**
 * Enter picks from the popup only when picking changes something: "/kick" + Enter completes to
 * "/kick ", but "/leave" typed in full (the only match) runs the command.
 */
function completionWouldChange(text: string, caret: number, item: Suggestion | undefined, start: number): boolean {
  if (!item) return false;
  const before = text.slice(0, caret);
  const picked = applySuggestion(before, start, item);
  return picked.trimEnd() !== before.trimEnd();
}
