import { useState } from "react";
import { send } from "../api";
import { kindLabel, localTime } from "../format";
import type { Backup, Restore } from "../types";
import { Dialog, ErrorBox, ProgressView } from "../parts/common";
import { useJobStream } from "../parts/useJob";

const confirmWord = "RESTORE";

/** What a backup of this kind puts back. */
function restoredParts(kind: Backup["kind"]): string[] {
  switch (kind) {
    case "db-full": case "db-incremental": return ["the POS database (sales, products, customers…) as it was then"];
    case "files": return ["the product images and files (uploads folder)"];
    case "full": return ["the POS database as it was then", "the product images and files (uploads folder)"];
  }
}

export function RestoreDialog({ backup, onClose, storeName }: { backup: Backup; onClose: () => void; storeName?: string }) {
  const [preRestore, setPreRestore] = useState(true);
  const [withConfig, setWithConfig] = useState(false);
  const [typed, setTyped] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [restoreId, setRestoreId] = useState<number | null>(null);
  const job = useJobStream<Restore>(restoreId ? `/api/v1/restores/${restoreId}/progress` : null);
  const accepted = typed.trim() === confirmWord || (!!storeName && typed.trim() === storeName);
  const hasDatabase = backup.kind !== "files";

  const start = async () => {
    setError(null);
    const query = new URLSearchParams({ confirm: "true", preRestoreSnapshot: String(preRestore), withConfig: String(withConfig && hasDatabase) });
    try {
      const restore = await send<Restore>("POST", `/api/v1/backups/${backup.id}/restore?${query}`);
      setRestoreId(restore.id);
    } catch (e) {
      setError(e);
    }
  };

  const end = job.end;
  return (
    <Dialog title={`Restore from backup ${backup.id}`} onClose={onClose}>
      {!restoreId && (
        <form onSubmit={(e) => { e.preventDefault(); if (accepted) start(); }}>
          <p>{kindLabel(backup.kind)} backup of {localTime(backup.startedAt)}. This puts back:</p>
          <ul data-testid="restore-parts">{restoredParts(backup.kind).map((p) => <li key={p}>{p}</li>)}</ul>
          <p>Everything changed in the store since then is replaced. The POS should not be selling while this runs.</p>
          {hasDatabase && (
            <label className="check"><input type="checkbox" checked={preRestore} onChange={(e) => setPreRestore(e.target.checked)} />
              {" "}Keep a copy of the current database first (the way back)</label>
          )}
          {hasDatabase && (
            <label className="check"><input type="checkbox" checked={withConfig} onChange={(e) => setWithConfig(e.target.checked)} />
              {" "}Also put back the configuration files</label>
          )}
          <div className="field">
            <label htmlFor="restore-confirm">To confirm, type {storeName ? <>the store's name <strong>{storeName}</strong> or </> : null}<strong>{confirmWord}</strong></label>
            <input id="restore-confirm" value={typed} onChange={(e) => setTyped(e.target.value)} autoComplete="off" autoFocus />
          </div>
          <ErrorBox error={error} />
          <div className="buttons">
            <button type="button" onClick={onClose}>Cancel</button>
            <button type="submit" className="danger" disabled={!accepted}>Restore</button>
          </div>
        </form>
      )}
      {restoreId && !end && (
        <>
          <ProgressView update={job.update} label="Restore progress" />
          <ErrorBox error={job.error} />
        </>
      )}
      {end && end.status === "succeeded" && (
        <div role="status" data-testid="restore-done">
          <p className="success">The restore is done: the store has the data of backup {backup.id}.</p>
          {end.preRestorePath && <p>The database as it was before is kept at <code>{end.preRestorePath}</code>.</p>}
          {end.files && <p>{end.files.restored} product files put back.</p>}
          <div className="buttons"><button type="button" onClick={onClose} autoFocus>Close</button></div>
        </div>
      )}
      {end && end.status === "failed" && (
        <div role="alert" data-testid="restore-failed">
          <p className="error">The restore failed: {end.error}</p>
          {end.recoverySteps && end.recoverySteps.length > 0 && (
            <><p>What to do now:</p><ol>{end.recoverySteps.map((s, i) => <li key={i}>{s}</li>)}</ol></>
          )}
          <div className="buttons"><button type="button" onClick={onClose} autoFocus>Close</button></div>
        </div>
      )}
    </Dialog>
  );
}
