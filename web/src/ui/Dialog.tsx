import { useEffect, useRef, type ReactNode } from "react";

/** A modal built on <dialog>: focus is trapped and Escape closes, as the platform does it. */
export function Dialog({
  title,
  onClose,
  children,
  wide,
  focusAfter,
  className,
}: {
  title: string;
  onClose: () => void;
  children: ReactNode;
  wide?: boolean;
  /** Another look, e.g. `sheet`: a bottom sheet on a phone. */
  className?: string;
  /** Asked as the dialog closes: an element to focus instead of the one that opened it. */
  focusAfter?: () => HTMLElement | null;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const focusAfterRef = useRef(focusAfter);
  useEffect(() => {
    focusAfterRef.current = focusAfter;
  });
  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
    return () => {
      dialog?.close();
      focusAfterRef.current?.()?.focus();
    };
  }, []);
  return (
    <dialog
      ref={ref}
      className={`dialog${wide ? " wide" : ""}${className ? ` ${className}` : ""}`}
      aria-label={title}
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
      onClick={(e) => {
        if (e.target === ref.current) onClose();
      }}
    >
      <div className="dialog-body">
        <h2>{title}</h2>
        {children}
      </div>
    </dialog>
  );
}

export function ConfirmDialog(props: {
  title: string;
  text: string;
  confirm: string;
  danger?: boolean;
  onConfirm: () => void;
  onClose: () => void;
}) {
  return (
    <Dialog title={props.title} onClose={props.onClose}>
      <p className="muted">{props.text}</p>
      <div className="dialog-actions">
        <button className="btn ghost" onClick={props.onClose} autoFocus>
          Cancel
        </button>
        <button
          className={`btn ${props.danger ? "danger" : "primary"}`}
          onClick={() => {
            props.onConfirm();
            props.onClose();
          }}
        >
          {props.confirm}
        </button>
      </div>
    </Dialog>
  );
}
