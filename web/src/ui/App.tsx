import { Component, type ReactNode } from "react";
import { useChat } from "../store";
import { Shell } from "./Shell";
import { SignIn } from "./SignIn";

/** The one error boundary: a crash shows a calm page with a reload button, not a blank screen. */
class ErrorBoundary extends Component<{ children: ReactNode }, { error: Error | null }> {
  state = { error: null as Error | null };
  static getDerivedStateFromError(error: Error) {
    return { error };
  }
  render() {
    if (this.state.error) {
      return (
        <main className="center-page">
          <div className="card">
            <h1>Something broke</h1>
            <p className="muted">{this.state.error.message}</p>
            <p className="muted">Your unsent messages are kept and will be sent after a reload.</p>
            <button className="btn primary" onClick={() => location.reload()}>
              Reload
            </button>
          </div>
        </main>
      );
    }
    return this.props.children;
  }
}

export function App() {
  const authChecked = useChat((s) => s.authChecked);
  const signedIn = useChat((s) => s.me !== null);
  return (
    <ErrorBoundary>
      {!authChecked ? (
        <main className="center-page" aria-busy="true">
          <div className="brand-mark large" aria-hidden="true" />
        </main>
      ) : signedIn ? (
        <Shell />
      ) : (
        <SignIn />
      )}
    </ErrorBoundary>
  );
}
