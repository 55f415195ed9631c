import { useEffect, useState } from "react";
import { optional, send } from "../api";
import { age, bytes, destinationLabel, kindLabel, kindLabels, localTime } from "../format";
import type { Backup, BackupKind, DeletionPreview } from "../types";
import { Dialog, ErrorBox } from "../parts/common";

/** Names exactly what goes (the local archive, each off-site copy, hourlies that need it) and what retention keeps. */
export function DeleteDialog({ backup, onClose }: { backup: Backup; onClose: (deleted: boolean) => void }) {
  const [preview, setPreview] = useState<DeletionPreview | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => { optional<DeletionPreview>(`/api/v1/backups/${backup.id}/deletion-preview`).then(setPreview, setError); }, [backup.id]);

  const remote = preview?.remote ?? (backup.offsite ?? []).filter((c) => c.status === "uploaded" || c.status === "pending");
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
      <p>{kindLabel(backup.kind)} backup of {localTime(backup.startedAt)}. This deletes, for good:</p>
      <ul data-testid="deletion-list">
        <li>the archive on this server: {preview?.local?.fileName ?? backup.fileName ?? `backup ${backup.id}`} ({bytes(preview?.local?.size ?? backup.size)})</li>
        {remote.map((c) => <li key={c.destination}>its copy on {destinationLabel(c.destination)}{c.status === "pending" ? " (not uploaded yet: it will not be)" : ""}</li>)}
      </ul>
      {preview && preview.dependents.length > 0 && (
        <p className="warning-line" data-testid="deletion-dependents">
          {preview.dependents.length === 1 ? "The hourly backup" : `${preview.dependents.length} hourly backups`} {preview.dependents.join(", ")} {preview.dependents.length === 1 ? "needs" : "need"} this one:
          they cannot be restored once it is gone.
        </p>
      )}
      {preview?.retention && <p>Retention: {preview.retention.keep ? "it would keep this backup" : "it would remove this backup anyway"} ({preview.retention.reason}).</p>}
      {preview && (
        <>
          <p>Restore points left afterwards:</p>
          <ul data-testid="deletion-kept">
            {(Object.keys(kindLabels) as BackupKind[]).map((kind) => {
              const kept = preview.keptAfter.find((k) => k.kind === kind);
              return kept && kept.count > 0
                ? <li key={kind}>{kindLabel(kind)}: {kept.count}{kept.newest ? `, the newest ${age(kept.newest)}` : ""}</li>
                : <li key={kind} className={kind === backup.kind ? "error-text" : undefined}>{kindLabel(kind)}: none left</li>;
            })}
          </ul>
        </>
      )}
      <p>The backup's record stays in the list as deleted, so the history is kept.</p>
      <ErrorBox error={error} />
      <div className="buttons">
        <button type="button" onClick={() => onClose(false)} autoFocus>Cancel</button>
        <button type="button" className="danger" onClick={confirm} disabled={busy}>Delete</button>
      </div>
    </Dialog>
  );
}
