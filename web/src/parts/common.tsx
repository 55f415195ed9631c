import { useCallback, useEffect, useRef, useState } from "react";
import type { ReactNode } from "react";
import { ApiError } from "../api";
import { age, bytes, duration, localTime, phaseLabel } from "../format";
import type { ProgressUpdate } from "../types";

/** A time as local time and as an age in words. */
export function When({ at }: { at: string | undefined }) {
  if (!at) return <span>—</span>;
  return (
    <time dateTime={at} title={new Date(at).toString()}>
      {localTime(at)} <span className="age">({age(at)})</span>
    </time>
  );
}

export function ErrorBox({ error }: { error: unknown }) {
  if (!error) return null;
  const message = error instanceof Error ? error.message : String(error);
  return <div className="error" role="alert">{message}</div>;
}

/** Loads with `load` (again when `deps` change or `reload()` is called), keeping the last value while it reloads. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): { data: T | null; error: ApiError | Error | null; reload: () => void } {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<ApiError | Error | null>(null);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    load().then(
      (value) => { if (live) { setData(value); setError(null); } },
      (e) => { if (live) setError(e instanceof Error ? e : new Error(String(e))); },
    );
    return () => { live = false; };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, reload };
}

export function ProgressView({ update, label }: { update: ProgressUpdate | null; label: string }) {
  if (!update) return <p role="status">{label}: starting…</p>;
  const fraction = update.bytesTotal > 0 ? Math.min(1, update.bytesDone / update.bytesTotal) : undefined;
  return (
    <div className="progress" role="status" aria-live="polite">
      <p className="phase" data-phase={update.phase}>{phaseLabel(update.phase)}</p>
      <progress aria-label={label} max={1} value={update.phase === "done" ? 1 : fraction} />
      <p className="numbers">
        {update.bytesTotal > 0 ? `${bytes(update.bytesDone)} of ${bytes(update.bytesTotal)}` : bytes(update.bytesDone)}
        {update.etaSeconds !== undefined && update.phase !== "done" ? ` · about ${duration(update.etaSeconds)} left` : ""}
        {` · ${duration(update.elapsedSeconds)} so far`}
      </p>
    </div>
  );
}

/** A modal dialog (the native <dialog>: focus trapped, Escape closes). */
export function Dialog({ title, onClose, children }: { title: string; onClose: () => void; children: ReactNode }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
    return () => dialog?.close();
  }, []);
  return (
    <dialog ref={ref} aria-labelledby="dialog-title" onCancel={(e) => { e.preventDefault(); onClose(); }}>
      <h2 id="dialog-title">{title}</h2>
      {children}
    </dialog>
  );
}

export function Field({ id, label, error, hint, children }: { id: string; label: string; error?: string; hint?: string; children: ReactNode }) {
  return (
    <div className={error ? "field invalid" : "field"}>
      <label htmlFor={id}>{label}</label>
      {children}
      {hint && <small id={`${id}-hint`}>{hint}</small>}
      {error && <small className="field-error" id={`${id}-error`} role="alert">{error}</small>}
    </div>
  );
}
