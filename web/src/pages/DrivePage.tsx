import { useEffect, useState } from "react";
import { ApiError, get, optional, send } from "../api";
import { bytes } from "../format";
import type { DriveStatus } from "../types";
import { ErrorBox, useLoad, When } from "../parts/common";

// Google Drive (R9.5): connect (Google's sign-in page, or a code to enter on a phone), status, reconnect
// when Google revoked the grant, disconnect, and the archives there.

interface CodeStarted { authorization_url: string }
interface DeviceStarted { connect_id: string; verification_url: string; user_code: string; expires_in: number; interval: number }
interface ConnectState { state: string; account?: string; message?: string }
interface RemoteFile { id?: string; name?: string; size?: number; modifiedTime?: string; state?: string; reconcile?: string }

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
      {device && <DeviceConnect device={device} onEnd={() => { setDevice(null); drive.reload(); }} />}
      {connected && !revoked && <RemoteListing />}
    </>
  );
}

/** The device flow: a code to type at Google's address on any phone, polled until it is used. */
function DeviceConnect({ device, onEnd }: { device: DeviceStarted; onEnd: () => void }) {
  const [state, setState] = useState<ConnectState>({ state: "waiting" });
  useEffect(() => {
    const timer = setInterval(async () => {
      try {
        const now = await get<ConnectState>(`/api/v1/drive/connect/${encodeURIComponent(device.connect_id)}`);
        setState(now);
        if (now.state !== "waiting" && now.state !== "pending") clearInterval(timer);
      } catch {
        clearInterval(timer);
      }
    }, Math.max(2, device.interval) * 1000);
    return () => clearInterval(timer);
  }, [device.connect_id, device.interval]);
  const done = state.state !== "waiting" && state.state !== "pending";
  return (
    <section className="card" aria-live="polite" aria-labelledby="device-title">
      <h2 id="device-title">Connect with a phone</h2>
      <p>On a phone or computer, open <strong>{device.verification_url}</strong> and enter this code:</p>
      <p className="code" data-testid="device-code">{device.user_code}</p>
      <p>{state.state === "connected" ? `Connected as ${state.account ?? "your Google account"}.` : done ? state.message ?? `The connection ended: ${state.state}.` : "Waiting for the code to be entered…"}</p>
      {done && <button type="button" onClick={onEnd}>Close</button>}
    </section>
  );
}

function RemoteListing() {
  const remote = useLoad(() => optional<{ items: RemoteFile[] }>("/api/v1/drive/remote").catch((e) => {
    if (e instanceof ApiError && e.status === 404) return null;
    throw e;
  }), []);
  if (remote.data === null && !remote.error) return null;
  return (
    <section>
      <h2>Archives on Google Drive</h2>
      <ErrorBox error={remote.error} />
      <div className="table-wrap">
        <table>
          <thead><tr><th scope="col">Archive</th><th scope="col">Size</th><th scope="col">Date</th><th scope="col">State</th></tr></thead>
          <tbody>{(remote.data?.items ?? []).map((f, i) => (
            <tr key={f.id ?? i}><td>{f.name}</td><td>{bytes(f.size)}</td><td><When at={f.modifiedTime} /></td><td>{f.reconcile ?? f.state ?? "—"}</td></tr>
          ))}</tbody>
        </table>
      </div>
    </section>
  );
}
