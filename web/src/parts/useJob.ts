import { useEffect, useState } from "react";
import { readEvents } from "../api";
import type { ProgressUpdate } from "../types";

/**
 * Follows a job's event stream: the latest progress, then its final record (`end`), or the error.
 * `headers`: other credentials than the bearer token (the wizard's setup code).
 */
export function useJobStream<End>(path: string | null, headers?: Record<string, string>): { update: ProgressUpdate | null; end: End | null; error: unknown } {
  const [update, setUpdate] = useState<ProgressUpdate | null>(null);
  const [end, setEnd] = useState<End | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    if (!path) return;
    setUpdate(null);
    setEnd(null);
    setError(null);
    const abort = new AbortController();
    let ended = false;
    readEvents(path, (e) => {
      if (e.event === "progress") setUpdate(e.data as ProgressUpdate);
      if (e.event === "end") { ended = true; setEnd(e.data as End); }
    }, abort.signal, headers).then(
      () => { if (!ended && !abort.signal.aborted) setError(new Error("The live progress stopped before the job ended; reload the page to see how it finished.")); },
      (e) => { if (!abort.signal.aborted) setError(e); },
    );
    return () => abort.abort();
  }, [path]);
  return { update, end, error };
}
