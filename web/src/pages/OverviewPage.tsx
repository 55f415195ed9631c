import { useEffect, useState } from "react";
import { get, readEvents, send } from "../api";
import { bytes, kindLabel, statusLabel } from "../format";
import type { Alert, Backup, Overview, Page, ProgressUpdate } from "../types";
import { ErrorBox, ProgressView, useLoad, When } from "../parts/common";
import { Link } from "../parts/Link";
import { Timeline } from "../parts/Timeline";
import { SizeChart } from "../parts/SizeChart";
import { UploadNow } from "../parts/UploadNow";

export function OverviewPage() {
  const overview = useLoad(() => get<Overview>("/api/v1/overview"), []);
  const recent = useLoad(() => get<Page<Backup>>("/api/v1/backups?limit=500"), []);
  const o = overview.data;
  // Kept current while it stays open on the office PC: new backups, alerts, and the ages in words.
  useEffect(() => {
    const timer = setInterval(() => { overview.reload(); recent.reload(); }, 30_000);
    return () => clearInterval(timer);
  }, [overview.reload, recent.reload]);
  return (
    <>
      <h1>Overview</h1>
      <ErrorBox error={overview.error} />
      {o && <Alerts alerts={o.alerts.newest} onChange={overview.reload} />}
      {o?.running && <RunningJob running={o.running} onEnd={() => { overview.reload(); recent.reload(); }} />}
      {o && (
        <div className="cards">
          <LastBackup title="Last database backup" backup={o.lastDatabaseBackup} testId="last-db" />
          <LastBackup title="Last file backup" backup={o.lastFileBackup} testId="last-files" />
          <LastBackup title="Last full archive" backup={o.lastFullBackup} testId="last-full" />
          <section className="card" aria-labelledby="next-title">
            <h2 id="next-title">Next scheduled runs</h2>
            {o.nextRuns.length === 0 ? <p>No backups are scheduled.</p> : (
              <ul className="plain" data-testid="next-runs">
                {o.nextRuns.map((r) => <li key={r.kind} data-kind={r.kind}>{kindLabel(r.kind)}: <When at={r.at} /></li>)}
              </ul>
            )}
          </section>
          <section className="card" aria-labelledby="storage-title">
            <h2 id="storage-title">Backup disk</h2>
            <p>{o.storage.archiveCount === 1 ? "1 archive uses" : `${o.storage.archiveCount} archives use`} {bytes(o.storage.usedBytes)}.</p>
            {o.storage.freeBytes !== undefined && <p>{bytes(o.storage.freeBytes)} free.</p>}
          </section>
          <section className="card" aria-labelledby="offsite-title">
            <h2 id="offsite-title">Google Drive</h2>
            <DriveCard overview={o} onChange={overview.reload} />
          </section>
        </div>
      )}
      {o?.lastFailedBackup && (
        <p className="warning-line">The last failed backup: {kindLabel(o.lastFailedBackup.kind)}, <When at={o.lastFailedBackup.startedAt} />: {o.lastFailedBackup.error}</p>
      )}
      <section aria-labelledby="timeline-heading">
        <h2 id="timeline-heading">Restore points, last 7 days</h2>
        <ErrorBox error={recent.error} />
        {recent.data && <Timeline backups={recent.data.items} now={Date.now()} />}
      </section>
      <section aria-labelledby="sizes-heading">
        <h2 id="sizes-heading">Backup sizes</h2>
        {recent.data && <SizeChart backups={recent.data.items} />}
      </section>
      <p><Link to="/run" className="button primary">Run backup now</Link> <Link to="/backups" className="button">See all backups</Link></p>
    </>
  );
}

function LastBackup({ title, backup, testId }: { title: string; backup?: Backup; testId: string }) {
  return (
    <section className="card" aria-label={title} data-testid={testId}>
      <h2>{title}</h2>
      {!backup ? <p>None yet.</p> : (
        <>
          <p className="big"><When at={backup.finishedAt ?? backup.startedAt} /></p>
          <p>
            <span className={`badge ${backup.status}`}>{statusLabel(backup)}</span> {kindLabel(backup.kind)}, {bytes(backup.size)}
            {" · "}<Link to={`/backups?highlight=${backup.id}`}>backup {backup.id}</Link>
          </p>
        </>
      )}
    </section>
  );
}

function DriveCard({ overview, onChange }: { overview: Overview; onChange: () => void }) {
  const drive = overview.drive;
  const destination = overview.destinations.find((d) => d.name === "google-drive");
  if (!drive) return <p>{destination?.message ?? "Not set up."} <Link to="/drive">Google Drive</Link></p>;
  if (drive.tokenState === "not connected") return <p>Not connected. <Link to="/drive">Connect Google Drive</Link></p>;
  return (
    <>
      <p>{drive.tokenState === "revoked" ? "Google no longer accepts this connection." : `Connected as ${drive.account ?? "a Google account"}.`}</p>
      {!drive.enabled && drive.disabledReason && <p className="error-text">{drive.disabledReason}</p>}
      <p>Last verified upload: {drive.lastVerifiedUpload ? <When at={drive.lastVerifiedUpload} /> : "none yet"}</p>
      <p>{drive.pendingUploads} waiting{drive.failedUploads ? `, ${drive.failedUploads} failed` : ""}.</p>
      {drive.uploadingBackupId !== undefined && <UploadNow backupId={drive.uploadingBackupId} onEnd={onChange} />}
      {drive.tokenState === "revoked" && <Link to="/drive" className="button primary">Reconnect</Link>}
    </>
  );
}

function Alerts({ alerts, onChange }: { alerts: Alert[]; onChange: () => void }) {
  const [error, setError] = useState<unknown>(null);
  const open = alerts.filter((a) => !a.acknowledgedAt);
  if (open.length === 0) return null;
  const acknowledge = async (id: number) => {
    try {
      await send("POST", `/api/v1/alerts/${id}/acknowledge`);
      onChange();
    } catch (e) {
      setError(e);
    }
  };
  return (
    <section className="alerts" aria-label="Open alerts">
      <ErrorBox error={error} />
      {open.map((a) => (
        <div key={a.id} className={`alert ${a.severity}`} role="alert">
          <p><strong>{a.message}</strong>{a.count > 1 ? ` (${a.count} times)` : ""} <span className="age">since <When at={a.createdAt} /></span></p>
          {a.detail && <p className="detail">{a.detail}</p>}
          <button type="button" onClick={() => acknowledge(a.id)}>Acknowledge</button>
        </div>
      ))}
    </section>
  );
}

function RunningJob({ running, onEnd }: { running: NonNullable<Overview["running"]>; onEnd: () => void }) {
  const [update, setUpdate] = useState<ProgressUpdate | null>(running.progress ?? null);
  useEffect(() => {
    if (running.id === undefined || running.job === "starting") return;
    const abort = new AbortController();
    const path = running.job === "backup" ? `/api/v1/backups/${running.id}/progress` : `/api/v1/restores/${running.id}/progress`;
    readEvents(path, (e) => {
      if (e.event === "progress") setUpdate(e.data as ProgressUpdate);
      if (e.event === "end") onEnd();
    }, abort.signal).catch(() => {});
    return () => abort.abort();
  }, [running.id, running.job]);
  return (
    <section className="card running" aria-labelledby="running-title">
      <h2 id="running-title">{running.job === "restore" ? "A restore is running" : "A backup is running"}</h2>
      <ProgressView update={update} label="Progress of the running job" />
    </section>
  );
}
