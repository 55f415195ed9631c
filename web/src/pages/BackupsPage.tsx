import { useEffect, useState } from "react";
import { get, send } from "../api";
import { bytes, isPartial, kindLabel, kindLabels, offsiteLabel, statusLabel } from "../format";
import type { Backup, BackupKind, Page, VerifyResult } from "../types";
import { ErrorBox, useLoad, When } from "../parts/common";
import { Link } from "../parts/Link";
import { DeleteDialog } from "./DeleteDialog";
import { RestoreDialog } from "./RestoreDialog";

const pageSize = 25;

export function BackupsPage({ highlight, storeName }: { highlight?: number; storeName?: string }) {
  const [kind, setKind] = useState<BackupKind | "">("");
  const [status, setStatus] = useState("");
  const [offset, setOffset] = useState(0);
  const [deleting, setDeleting] = useState<Backup | null>(null);
  const [restoring, setRestoring] = useState<Backup | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [actionError, setActionError] = useState<unknown>(null);
  const query = new URLSearchParams({ limit: String(pageSize), offset: String(offset) });
  if (kind) query.set("kind", kind);
  if (status) query.set("status", status);
  const list = useLoad(() => get<Page<Backup>>(`/api/v1/backups?${query}`), [kind, status, offset]);

  useEffect(() => {
    if (highlight && list.data) document.querySelector(`[data-backup-id="${highlight}"]`)?.scrollIntoView({ block: "center" });
  }, [highlight, list.data]);

  const verify = async (b: Backup) => {
    setActionError(null);
    setNotice(`Verifying backup ${b.id}…`);
    try {
      const result = await send<VerifyResult>("POST", `/api/v1/backups/${b.id}/verify`);
      if (result.status === "ok") {
        setNotice(`Backup ${b.id} is sound: its archive is complete, every checksum matches${result.integrity ? ` and the database check says ${result.integrity}` : ""}.`);
      } else {
        setNotice(null);
        setActionError(new Error(`Backup ${b.id} failed its check: ${result.error ?? "the archive is damaged"}. Do not rely on it; make a new backup.`));
      }
    } catch (e) {
      setNotice(null);
      setActionError(e);
    }
  };

  return (
    <>
      <h1>Backups</h1>
      <div className="toolbar" role="search">
        <label>Kind{" "}
          <select value={kind} onChange={(e) => { setKind(e.target.value as BackupKind | ""); setOffset(0); }}>
            <option value="">All kinds</option>
            {(Object.keys(kindLabels) as BackupKind[]).map((k) => <option key={k} value={k}>{kindLabels[k]}</option>)}
          </select>
        </label>
        <label>Status{" "}
          <select value={status} onChange={(e) => { setStatus(e.target.value); setOffset(0); }}>
            <option value="">Any status</option>
            <option value="succeeded">OK</option>
            <option value="failed">Failed</option>
            <option value="running">Running</option>
            <option value="deleted">Deleted</option>
          </select>
        </label>
        <Link to="/run" className="button primary">Run backup now</Link>
      </div>
      {notice && <p className="notice-line" role="status">{notice}</p>}
      <ErrorBox error={actionError ?? list.error} />
      {list.data && list.data.items.length === 0 && <p>No backups match.</p>}
      {list.data && list.data.items.length > 0 && (
        <div className="table-wrap">
          <table className="backups">
            <caption className="visually-hidden">Backups, newest first</caption>
            <thead>
              <tr><th scope="col">Backup</th><th scope="col">Type</th><th scope="col">Date</th><th scope="col">Size</th><th scope="col">Status</th><th scope="col">Actions</th></tr>
            </thead>
            <tbody>
              {list.data.items.map((b) => (
                <tr key={b.id} data-backup-id={b.id} className={b.id === highlight ? "highlight" : undefined}>
                  <td>{b.id}<div className="small">{chainText(b)}</div></td>
                  <td>{kindLabel(b.kind)}</td>
                  <td><When at={b.startedAt} /></td>
                  <td>{bytes(b.size)}</td>
                  <td><StatusCell backup={b} /></td>
                  <td className="actions">
                    {b.status === "succeeded" && (
                      <>
                        <DownloadButton backup={b} onError={setActionError} />
                        <button type="button" onClick={() => verify(b)} aria-label={`Verify backup ${b.id}`}>Verify</button>
                        <button type="button" onClick={() => setRestoring(b)} aria-label={`Restore backup ${b.id}`}>Restore</button>
                        <button type="button" className="danger" onClick={() => setDeleting(b)} aria-label={`Delete backup ${b.id}`}>Delete</button>
                      </>
                    )}
                    <Link to={`/logs?backup=${b.id}`}>Log</Link>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {list.data && (
        <nav className="pager" aria-label="Pages of backups">
          <button type="button" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - pageSize))}>Newer</button>
          <span>Backups {list.data.items.length ? offset + 1 : 0}–{offset + list.data.items.length}</span>
          <button type="button" disabled={list.data.nextOffset === undefined} onClick={() => setOffset(list.data!.nextOffset!)}>Older</button>
        </nav>
      )}
      {deleting && <DeleteDialog backup={deleting} onClose={(done) => { setDeleting(null); if (done) { setNotice(`Backup ${deleting.id} was deleted.`); list.reload(); } }} />}
      {restoring && <RestoreDialog backup={restoring} storeName={storeName} onClose={() => { setRestoring(null); list.reload(); }} />}
    </>
  );
}

/** An hourly's place in its chain: the base holds every page, the others only what changed. */
function chainText(b: Backup): string {
  if (b.kind !== "db-incremental") return "";
  if (b.chain) return b.chain.position === 0 ? "start of a chain" : `chain of ${b.chain.baseId}, #${b.chain.position + 1}`;
  return b.parentId ? `after ${b.parentId}` : "";
}

function StatusCell({ backup }: { backup: Backup }) {
  const partial = isPartial(backup);
  return (
    <>
      <span className={`badge ${partial ? "partial" : backup.status}`}>{partial ? "Saved here" : statusLabel(backup)}</span>
      {backup.status === "deleted" && backup.deletedBy && (
        <div className="small">{backup.deletedBy.startsWith("retention") ? "by the retention rules" : `by ${backup.deletedBy.replace(/^user:/, "")}`}</div>
      )}
      {(backup.offsite ?? []).map((c) => <div key={c.destination} className="small">{offsiteLabel(c)}</div>)}
      {backup.error && <div className="small error-text">{backup.error}</div>}
    </>
  );
}

/** Download: a plain link to a short-lived, single-use, audited ticket URL (no bearer header needed). */
function DownloadButton({ backup, onError }: { backup: Backup; onError: (e: unknown) => void }) {
  const [busy, setBusy] = useState(false);
  const download = async () => {
    setBusy(true);
    onError(null);
    try {
      // A plain link to a single-use ticket: the browser streams the archive to disk itself.
      const ticket = await send<{ url: string }>("POST", `/api/v1/backups/${backup.id}/download-ticket`);
      const url = ticket.url;
      const a = document.createElement("a");
      a.href = url;
      a.download = backup.fileName ?? `backup-${backup.id}.zip`;
      document.body.appendChild(a);
      a.click();
      a.remove();
    } catch (e) {
      onError(e);
    } finally {
      setBusy(false);
    }
  };
  return <button type="button" onClick={download} disabled={busy} aria-label={`Download backup ${backup.id}`}>{busy ? "Preparing…" : "Download"}</button>;
}
