import { useState } from "react";
import { get, optional, send } from "../api";
import { bytes, kindLabel } from "../format";
import type { DriveStatus } from "../types";
import { ErrorBox, useLoad, When } from "../parts/common";
import { Link } from "../parts/Link";
import { UploadNow } from "../parts/UploadNow";
import { DeviceConnect, type ConnectState, type DeviceStarted } from "../parts/DeviceConnect";

// Google Drive (R9.5): connect (Google's sign-in page, or a code to enter on a phone), status, reconnect
// when Google revoked the grant, disconnect, and the archives there.

interface CodeStarted { authorization_url: string }

export function DrivePage() {
  const drive = useLoad(() => optional<DriveStatus>("/api/v1/drive"), []);
  const [error, setError] = useState<unknown>(null);
  const [device, setDevice] = useState<DeviceStarted | null>(null);
  const [opened, setOpened] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  if (drive.data === null && !drive.error) {
    return <><h1>Google Drive</h1><p>This server cannot connect Google Drive from the dashboard yet (a later version can).</p></>;
  }
  const d = drive.data;
  const connectWithCode = async () => {
    setError(null);
    try {
      const started = await send<CodeStarted>("POST", "/api/v1/drive/connect", { flow: "code" });
      setOpened(started.authorization_url);
      window.open(started.authorization_url, "_blank", "noopener");
    } catch (e) {
      setError(e);
    }
  };
  const connectWithDevice = async () => {
    setError(null);
    try {
      setDevice(await send<DeviceStarted>("POST", "/api/v1/drive/connect", { flow: "device" }));
    } catch (e) {
      setError(e);
    }
  };
  const disconnect = async () => {
    setError(null);
    try {
      const result = await send<{ revokedAtGoogle: boolean; account?: string }>("POST", "/api/v1/drive/disconnect");
      setNotice(`Google Drive is disconnected${result.account ? ` (${result.account})` : ""}.${result.revokedAtGoogle ? "" : " Google could not be told; remove the access in the Google account too."}`);
      drive.reload();
    } catch (e) {
      setError(e);
    }
  };
  const syncNow = async () => {
    setError(null);
    try {
      await send("POST", "/api/v1/drive/sync");
      setNotice("Copying the waiting backups to Google Drive now.");
      drive.reload();
    } catch (e) {
      setError(e);
    }
  };
  const connected = d && d.tokenState !== "not connected";
  const revoked = d?.tokenState === "revoked";
  return (
    <>
      <h1>Google Drive</h1>
      {notice && <p className="notice-line" role="status">{notice}</p>}
      <ErrorBox error={drive.error ?? error} />
      {d && (
        <section className="card" aria-labelledby="drive-status-title">
          <h2 id="drive-status-title">Status</h2>
          <p data-testid="drive-status">
            {!connected ? "Not connected: backups stay on this server only." : revoked
              ? "Google no longer accepts this connection (access was removed, or the 7 days of a test app ran out). Reconnect to keep copying."
              : `Connected as ${d.account ?? "a Google account"}${d.tokenState === "expired" ? " (Google could not be reached to renew the access; it retries)" : ""}.`}
          </p>
          {connected && <p>Folder on Drive: {d.folder}</p>}
          {d.connectedAt && <p>Connected <When at={d.connectedAt} /></p>}
          {connected && <p>Last verified upload: {d.lastVerifiedUpload ? <When at={d.lastVerifiedUpload} /> : "none yet"} · {d.pendingUploads} waiting{d.failedUploads ? ` · ${d.failedUploads} failed` : ""}</p>}
          {!d.enabled && d.disabledReason && <p className="error-text">{d.disabledReason}</p>}
          {d.uploadingBackupId !== undefined && <UploadNow backupId={d.uploadingBackupId} onEnd={drive.reload} />}
          <div className="buttons start">
            {(!connected || revoked) && <>
              <button type="button" className="primary" onClick={connectWithCode}>{revoked ? "Reconnect" : "Connect Google Drive"}</button>
              <button type="button" onClick={connectWithDevice}>Use a phone instead</button>
            </>}
            {connected && !revoked && <button type="button" onClick={syncNow}>Copy waiting backups now</button>}
            {connected && <button type="button" className="danger" onClick={disconnect}>Disconnect</button>}
          </div>
          {opened && (
            <p role="status">Sign in to Google in the tab that opened, then come back here and <button type="button" onClick={() => { setOpened(null); drive.reload(); }}>Check again</button>.
              {" "}<a href={opened} target="_blank" rel="noopener noreferrer">Open Google's page again</a></p>
          )}
        </section>
      )}
      {device && <DeviceConnect device={device} poll={(id) => get<ConnectState>(`/api/v1/drive/connect/${encodeURIComponent(id)}`)}
                                onEnd={() => { setDevice(null); drive.reload(); }} />}
      {connected && !revoked && <RemoteListing />}
    </>
  );
}

/** GET /drive/remote's reconcile report: what Drive holds against what the catalog says it holds. */
interface ReconcileEntry { backupId?: string; catalogId?: number; kind?: string; remoteId?: string; name?: string; size?: number; localSize?: number; reason?: string }
interface ReconcileReport { matched: ReconcileEntry[]; remoteOnly: ReconcileEntry[]; localOnly: ReconcileEntry[]; mismatched: ReconcileEntry[] }

const reconcileStates: { key: keyof ReconcileReport; label: string }[] = [
  { key: "matched", label: "On Drive, matches" },
  { key: "mismatched", label: "On Drive, but different: copied again" },
  { key: "localOnly", label: "Not on Drive yet" },
  { key: "remoteOnly", label: "Only on Drive" },
];

function RemoteListing() {
  const remote = useLoad(() => get<ReconcileReport>("/api/v1/drive/remote"), []);
  const rows = remote.data ? reconcileStates.flatMap(({ key, label }) => remote.data![key].map((entry) => ({ entry, label, key }))) : [];
  return (
    <section aria-labelledby="remote-title">
      <h2 id="remote-title">Archives on Google Drive</h2>
      <ErrorBox error={remote.error} />
      {remote.data && rows.length === 0 && <p>Nothing on Google Drive yet, and no copy waiting.</p>}
      {rows.length > 0 && (
        <div className="table-wrap">
          <table data-testid="drive-remote">
            <thead><tr><th scope="col">Backup</th><th scope="col">Type</th><th scope="col">Size</th><th scope="col">State</th></tr></thead>
            <tbody>{rows.map(({ entry, label, key }, i) => (
              <tr key={`${key}-${entry.remoteId ?? entry.catalogId ?? i}`} data-state={key}>
                <td>{entry.catalogId !== undefined ? <Link to={`/backups?highlight=${entry.catalogId}`}>backup {entry.catalogId}</Link> : entry.name ?? "—"}</td>
                <td>{entry.kind ? kindLabel(entry.kind) : "—"}</td>
                <td>{bytes(entry.size ?? entry.localSize)}</td>
                <td>{label}{entry.reason && key !== "matched" ? ` (${entry.reason})` : ""}</td>
              </tr>
            ))}</tbody>
          </table>
        </div>
      )}
    </section>
  );
}
