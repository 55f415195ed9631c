import { useEffect, useState } from "react";
import { send } from "../api";
import { bytes, kindLabel, localTime, offsiteStates } from "../format";
import type { Backup } from "../types";
import { Dialog, ErrorBox } from "../parts/common";
import { deletionPreview } from "./BackupsPage";

/** Names exactly what goes (the local archive, the Drive copy if any) and what retention keeps. */
export function DeleteDialog({ backup, onClose }: { backup: Backup; onClose: (deleted: boolean) => void }) {
  const [preview, setPreview] = useState<Record<string, unknown> | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => { deletionPreview(backup.id).then(setPreview, setError); }, [backup.id]);

  const remote = offsiteStates(backup).filter((o) => o.state !== "failed");
  const previewLines = describePreview(preview);
  const confirm = async () => {
    setBusy(true);
    try {
      await send("DELETE", `/api/v1/backups/${backup.id}?confirm=true`);
      onClose(true);
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  };
  return (
    <Dialog title={`Delete backup ${backup.id}?`} onClose={() => onClose(false)}>
      <p>This deletes, for good:</p>
      <ul data-testid="deletion-list">
        <li>the archive on this server: {backup.fileName ?? `backup ${backup.id}`} ({kindLabel(backup.kind)}, {localTime(backup.startedAt)}, {bytes(backup.size)})</li>
        {remote.map((o, i) => <li key={i}>its copy on {o.destination ?? "Google Drive"}</li>)}
        {previewLines.goes.map((line, i) => <li key={`g${i}`}>{line}</li>)}
      </ul>
      {previewLines.keeps.length > 0 && (<><p>Retention keeps:</p><ul>{previewLines.keeps.map((l, i) => <li key={i}>{l}</li>)}</ul></>)}
      <p>The backup's record stays in the list as deleted, so the history is kept.</p>
      <ErrorBox error={error} />
      <div className="buttons">
        <button type="button" onClick={() => onClose(false)} autoFocus>Cancel</button>
        <button type="button" className="danger" onClick={confirm} disabled={busy}>Delete</button>
      </div>
    </Dialog>
  );
}

/** The deletion preview in words, whatever its exact shape: lists of strings, or a message. */
function describePreview(preview: Record<string, unknown> | null): { goes: string[]; keeps: string[] } {
  if (!preview) return { goes: [], keeps: [] };
  const strings = (v: unknown): string[] => Array.isArray(v) ? v.map((x) => typeof x === "string" ? x : describe(x)) : typeof v === "string" ? [v] : [];
  const describe = (x: unknown): string => {
    if (x && typeof x === "object") {
      const o = x as Record<string, unknown>;
      return String(o.message ?? o.description ?? o.name ?? o.fileName ?? (o.id !== undefined ? `backup ${o.id}` : JSON.stringify(o)));
    }
    return String(x);
  };
  const goes = [...strings(preview.alsoDeleted), ...strings(preview.remote).map((r) => `the off-site copy ${r}`), ...strings(preview.dependents).map((d) => `hourly backup that needs it: ${d}`)];
  const keeps = [...strings(preview.retentionKeeps), ...strings(preview.keeps), ...strings(preview.message)];
  return { goes, keeps };
}
