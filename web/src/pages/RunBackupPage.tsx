import { useState } from "react";
import { send } from "../api";
import { bytes, duration } from "../format";
import type { Backup, BackupKind } from "../types";
import { ErrorBox, ProgressView } from "../parts/common";
import { Link } from "../parts/Link";
import { useJobStream } from "../parts/useJob";

const choices: { kind: BackupKind; title: string; text: string }[] = [
  { kind: "db-incremental", title: "DB hourly", text: "Only what changed in the database since the last backup. Quick." },
  { kind: "db-full", title: "DB full", text: "The whole database, on its own." },
  { kind: "files", title: "Files", text: "The product images and files that changed." },
  { kind: "full", title: "Full", text: "Database and all product files in one archive." },
];

export function RunBackupPage() {
  const [kind, setKind] = useState<BackupKind>("db-full");
  const [error, setError] = useState<unknown>(null);
  const [jobId, setJobId] = useState<number | null>(null);
  const job = useJobStream<Backup>(jobId ? `/api/v1/backups/${jobId}/progress` : null);

  const start = async () => {
    setError(null);
    try {
      const backup = await send<Backup>("POST", "/api/v1/backups", { kind });
      setJobId(backup.id);
    } catch (e) {
      setError(e);
    }
  };
  const end = job.end;
  return (
    <>
      <h1>Run backup now</h1>
      {!jobId && (
        <form onSubmit={(e) => { e.preventDefault(); start(); }}>
          <fieldset className="choices">
            <legend>What to back up</legend>
            {choices.map((c) => (
              <label key={c.kind} className={kind === c.kind ? "choice chosen" : "choice"}>
                <input type="radio" name="kind" value={c.kind} checked={kind === c.kind} onChange={() => setKind(c.kind)} />
                <strong>{c.title}</strong>
                <span>{c.text}</span>
              </label>
            ))}
          </fieldset>
          <ErrorBox error={error} />
          <button type="submit" className="primary">Run backup now</button>
        </form>
      )}
      {jobId && !end && (
        <section aria-label="Backup progress">
          <ProgressView update={job.update} label="Backup progress" />
          <ErrorBox error={job.error} />
        </section>
      )}
      {end && end.status === "succeeded" && (
        <div role="status" data-testid="backup-done">
          <p className="success">Backup {end.id} is done: {bytes(end.size)} in {duration(end.durationSeconds)}.</p>
          <p><Link to={`/backups?highlight=${end.id}`} className="button primary">See it in the list</Link> <button type="button" onClick={() => setJobId(null)}>Run another</button></p>
        </div>
      )}
      {end && end.status !== "succeeded" && (
        <div role="alert" data-testid="backup-failed">
          <p className="error">The backup did not finish: {end.error ?? end.status}</p>
          {end.errorDetail && <p className="detail">{end.errorDetail}</p>}
          <p><Link to={`/logs?backup=${end.id}`}>See its log</Link> <button type="button" onClick={() => setJobId(null)}>Try again</button></p>
        </div>
      )}
    </>
  );
}
