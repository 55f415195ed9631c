import { useEffect, useState } from "react";
import { setupFetch } from "../api";
import { bytes, kindLabel } from "../format";
import type { DriveStatus } from "../types";
import { ErrorBox, When } from "../parts/common";
import { DeviceConnect, type ConnectState, type DeviceStarted } from "../parts/DeviceConnect";

// The wizard's other way back (R8): the store's copies on Google Drive. Connect the store's Google account
// with the setup code for credentials, pick one of the backups there, and the server fetches it, checks it
// against the checksum it was stored with, verifies it, and restores it as an uploaded archive.

interface RemoteBackup { remoteId: string; backupId?: string; kind: string; name: string; size: number; modifiedAt?: string; store?: string }
interface RemoteBackups { folder: string; items: RemoteBackup[] }

async function setupJSON<T>(path: string, code: string, init: RequestInit = {}): Promise<T> {
  const response = await setupFetch(path, code, init);
  return (await response.json()) as T;
}

export function WizardDrive({ code, onStarted }: { code: string; onStarted: (restoreId: number) => void }) {
  const [status, setStatus] = useState<DriveStatus | null>(null);
  const [backups, setBackups] = useState<RemoteBackups | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [opened, setOpened] = useState<string | null>(null);
  const [device, setDevice] = useState<DeviceStarted | null>(null);
  const [fetching, setFetching] = useState<RemoteBackup | null>(null);
  const [tick, setTick] = useState(0);
  const connected = status !== null && (status.tokenState === "ok" || status.tokenState === "expired");

  useEffect(() => {
    setError(null);
    setupJSON<DriveStatus>("/api/v1/setup/drive", code).then(setStatus, setError);
  }, [code, tick]);
  useEffect(() => {
    if (!connected) return;
    setupJSON<RemoteBackups>("/api/v1/setup/drive/backups", code).then(setBackups, setError);
  }, [connected, code, tick]);

  const post = (body: unknown) => ({ method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  const connectWithCode = async () => {
    setError(null);
    // Opened at once, in the click: a tab opened after an await is a pop-up the browser may block.
    const tab = window.open("", "_blank");
    if (tab) tab.opener = null;
    try {
      const started = await setupJSON<{ authorization_url: string }>("/api/v1/setup/drive/connect", code, post({ flow: "code" }));
      setOpened(started.authorization_url);
      if (tab) tab.location.href = started.authorization_url; else window.open(started.authorization_url, "_blank", "noopener");
    } catch (e) {
      tab?.close();
      setError(e);
    }
  };
  const connectWithDevice = async () => {
    setError(null);
    try {
      setDevice(await setupJSON<DeviceStarted>("/api/v1/setup/drive/connect", code, post({ flow: "device" })));
    } catch (e) {
      setError(e);
    }
  };
  const restore = async (backup: RemoteBackup) => {
    setError(null);
    setFetching(backup);
    try {
      const started = await setupJSON<{ id: number }>(
        `/api/v1/setup/drive/restore?confirm=true&remoteId=${encodeURIComponent(backup.remoteId)}`, code, { method: "POST" });
      onStarted(started.id);
    } catch (e) {
      setError(e);
    } finally {
      setFetching(null);
    }
  };

  return (
    <section aria-labelledby="wizard-drive-title" data-testid="wizard-drive">
      <h2 id="wizard-drive-title">From Google Drive</h2>
      {status && !connected && (
        <>
          <p>{status.tokenState === "revoked" ? "Google no longer accepts the connection: connect again." : "Connect the store's Google account to see the backups copied there."}</p>
          <div className="buttons start">
            <button type="button" className="primary" onClick={connectWithCode}>Connect Google Drive</button>
            <button type="button" onClick={connectWithDevice}>Use a phone instead</button>
          </div>
          {opened && (
            <p role="status">Sign in to Google in the tab that opened, then come back here and{" "}
              <button type="button" onClick={() => { setOpened(null); setTick((t) => t + 1); }}>Check again</button>.</p>
          )}
        </>
      )}
      {device && (
        <DeviceConnect device={device} poll={(id) => setupJSON<ConnectState>(`/api/v1/setup/drive/connect/${encodeURIComponent(id)}`, code)}
                       onEnd={() => { setDevice(null); setTick((t) => t + 1); }} />
      )}
      {connected && <p>Connected as {status.account ?? "a Google account"}. Backups in the folder {backups?.folder ?? status.folder}:</p>}
      {connected && backups && backups.items.length === 0 && (
        <p>There are no backups in this folder. If the old server had another name, set [google] store_name in the config file to that name and restart the service.</p>
      )}
      {connected && backups && backups.items.length > 0 && (
        <div className="table-wrap">
          <table data-testid="drive-backups">
            <thead><tr><th scope="col">Made</th><th scope="col">Type</th><th scope="col">Size</th><th scope="col">Store</th><th scope="col"><span className="visually-hidden">Action</span></th></tr></thead>
            <tbody>{backups.items.map((b) => (
              <tr key={b.remoteId} data-remote-id={b.remoteId}>
                <td><When at={b.modifiedAt} /></td>
                <td>{kindLabel(b.kind)}</td>
                <td>{bytes(b.size)}</td>
                <td>{b.store ?? "—"}</td>
                <td><button type="button" className="primary" disabled={fetching !== null} onClick={() => restore(b)}
                            aria-label={`Restore the ${kindLabel(b.kind)} backup of ${b.modifiedAt ? new Date(b.modifiedAt).toLocaleString() : b.name}`}>Restore</button></td>
              </tr>
            ))}</tbody>
          </table>
        </div>
      )}
      {fetching && <p role="status">Fetching the backup from Google Drive ({bytes(fetching.size)}) and checking it; the restore starts when it is here…</p>}
      <ErrorBox error={error} />
    </section>
  );
}
