import { useState } from "react";
import { get } from "../api";
import { kindLabel } from "../format";
import type { AuditEntry, Backup, LogLine, Page } from "../types";
import { ErrorBox, useLoad, When } from "../parts/common";

export function LogsPage({ backupId }: { backupId?: number }) {
  const backups = useLoad(() => get<Page<Backup>>("/api/v1/backups?limit=100"), []);
  const [chosen, setChosen] = useState<number | undefined>(backupId);
  const selected = chosen ?? backups.data?.items[0]?.id;
  const [level, setLevel] = useState("info");
  // The server filters by severity: `warning` is warnings and errors.
  const log = useLoad(() => selected ? get<{ items: LogLine[]; total?: number }>(`/api/v1/backups/${selected}/logs?level=${level}&limit=2000`)
    : Promise.resolve({ items: [] }), [selected, level]);
  const lines = log.data?.items ?? [];

  return (
    <>
      <h1>Logs</h1>
      <section aria-labelledby="job-log-title">
        <h2 id="job-log-title">Log of a backup</h2>
        <div className="toolbar">
          <label>Backup{" "}
            <select value={selected ?? ""} onChange={(e) => setChosen(Number(e.target.value))}>
              {backupId && !backups.data?.items.some((b) => b.id === backupId) && <option value={backupId}>Backup {backupId}</option>}
              {backups.data?.items.map((b) => <option key={b.id} value={b.id}>{`${b.id}: ${kindLabel(b.kind)}, ${new Date(b.startedAt).toLocaleString()} (${b.status})`}</option>)}
            </select>
          </label>
          <label>Level{" "}
            <select value={level} onChange={(e) => setLevel(e.target.value)}>
              <option value="info">Everything</option><option value="warning">Warnings and errors</option><option value="error">Errors only</option>
            </select>
          </label>
        </div>
        <ErrorBox error={backups.error ?? log.error} />
        {lines.length === 0 ? <p>No log lines.</p> : (
          <ol className="log" data-testid="job-log">
            {lines.map((l, i) => <li key={i} className={l.level}><When at={l.at} /> <span className="level">{l.level}</span> {l.message}</li>)}
          </ol>
        )}
      </section>
      <AuditLog />
    </>
  );
}

function AuditLog() {
  const [offset, setOffset] = useState(0);
  const [filter, setFilter] = useState("");
  const [outcome, setOutcome] = useState("");
  const audit = useLoad(() => get<Page<AuditEntry>>(`/api/v1/audit?limit=100&offset=${offset}`), [offset]);
  const needle = filter.trim().toLowerCase();
  const rows = (audit.data?.items ?? []).filter((a) => (!outcome || a.outcome === outcome)
    && (!needle || [a.userId, a.stationId, a.client, a.action, a.target, a.detail].some((v) => v?.toLowerCase().includes(needle))));
  return (
    <section aria-labelledby="audit-title">
      <h2 id="audit-title">Audit log: who did what</h2>
      <div className="toolbar">
        <label>Search{" "}<input type="search" value={filter} onChange={(e) => setFilter(e.target.value)} placeholder="user, station, action…" /></label>
        <label>Outcome{" "}
          <select value={outcome} onChange={(e) => setOutcome(e.target.value)}>
            <option value="">All</option><option value="succeeded">Succeeded</option><option value="failed">Failed</option>
            <option value="rejected">Refused</option><option value="busy">Busy</option><option value="skipped">Skipped</option>
          </select>
        </label>
      </div>
      <ErrorBox error={audit.error} />
      <div className="table-wrap">
        <table data-testid="audit-log">
          <thead><tr><th scope="col">Time</th><th scope="col">User</th><th scope="col">Station</th><th scope="col">Address</th><th scope="col">Action</th><th scope="col">Outcome</th></tr></thead>
          <tbody>
            {rows.map((a) => (
              <tr key={a.id}>
                <td><When at={a.at} /></td><td>{a.userId ?? "—"}</td><td>{a.stationId ?? "—"}</td><td>{a.client ?? "—"}</td>
                <td>{a.action}{a.target ? `: ${a.target}` : ""}{a.detail && <div className="small">{a.detail}</div>}</td>
                <td>{a.outcome}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <nav className="pager" aria-label="Pages of the audit log">
        <button type="button" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - 100))}>Newer</button>
        <button type="button" disabled={audit.data?.nextOffset === undefined} onClick={() => setOffset(audit.data!.nextOffset!)}>Older</button>
      </nav>
    </section>
  );
}
