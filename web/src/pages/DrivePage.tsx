import { useEffect, useState } from "react";
import { get, optional, send } from "../api";
import { bytes } from "../format";
import { ErrorBox, useLoad, When } from "../parts/common";

// Google Drive control (R9.5). Shapes per the Drive control routes; missing fields are left out.

interface DriveState {
  status?: string;
  connected?: boolean;
  account?: string;
  message?: string;
  folder?: string;
  lastVerifiedUploadAt?: string;
  pendingUploads?: number;
}
interface ConnectStart {
  connect_id?: string; connectId?: string;
  authorization_url?: string; authorizationURL?: string; authorizationUrl?: string;
  user_code?: string; userCode?: string;
  verification_url?: string; verificationURL?: string; verificationUrl?: string;
}
interface RemoteFile { id?: string; name?: string; size?: number; modifiedTime?: string; state?: string; reconcile?: string; backupId?: number }

export function DrivePage() {
  const drive = useLoad(() => optional<DriveState>("/api/v1/drive"), []);
  const [error, setError] = useState<unknown>(null);
  const [connect, setConnect] = useState<ConnectStart | null>(null);

  if (drive.data === null && !drive.error) {
    return <><h1>Google Drive</h1><p>Google Drive can be set up from the dashboard once this server has the Drive controls (a later version).</p></>;
  }
  const d = drive.data;
  const start = async (flow: "code" | "device") => {
    setError(null);
    try {
      const started = await send<ConnectStart>("POST", "/api/v1/drive/connect", { flow });
      setConnect(started);
      const url = started.authorization_url ?? started.authorizationURL ?? started.authorizationUrl;
      if (flow === "code" && url) window.open(url, "_blank", "noopener");
    } catch (e) {
      setError(e);
    }
  };
  const act = async (path: string) => {
    setError(null);
    try { await send("POST", path); drive.reload(); } catch (e) { setError(e); }
  };
  const revoked = d?.status === "revoked" || d?.status === "invalid_grant";
  return (
    <>
      <h1>Google Drive</h1>
      <ErrorBox error={drive.error ?? error} />
      {d && (
        <section className="card">
          <h2>Status</h2>
          <p data-testid="drive-status">{d.connected ? `Connected${d.account ? ` as ${d.account}` : ""}.` : revoked ? "Google no longer accepts this connection: reconnect." : d.message ?? "Not connected."}</p>
          {d.folder && <p>Folder: {d.folder}</p>}
          {d.lastVerifiedUploadAt && <p>Last verified upload: <When at={d.lastVerifiedUploadAt} /></p>}
          {d.pendingUploads !== undefined && <p>{d.pendingUploads} uploads waiting.</p>}
          <div className="buttons">
            {(!d.connected || revoked) && <>
              <button type="button" className="primary" onClick={() => start("code")}>{revoked ? "Reconnect" : "Connect Google Drive"}</button>
              <button type="button" onClick={() => start("device")}>Connect with a phone instead</button>
            </>}
            {d.connected && <><button type="button" onClick={() => act("/api/v1/drive/sync")}>Copy now</button>
              <button type="button" className="danger" onClick={() => act("/api/v1/drive/disconnect")}>Disconnect</button></>}
          </div>
        </section>
      )}
      {connect && <ConnectProgress start={connect} onDone={() => { setConnect(null); drive.reload(); }} />}
      {d?.connected && <RemoteListing />}
    </>
  );
}

function ConnectProgress({ start, onDone }: { start: ConnectStart; onDone: () => void }) {
  const id = start.connect_id ?? start.connectId;
  const code = start.user_code ?? start.userCode;
  const verification = start.verification_url ?? start.verificationURL ?? start.verificationUrl;
  const url = start.authorization_url ?? start.authorizationURL ?? start.authorizationUrl;
  const [state, setState] = useState("waiting");
  useEffect(() => {
    if (!id) return;
    const timer = setInterval(async () => {
      try {
        const s = await get<{ status?: string; state?: string }>(`/api/v1/drive/connect/${encodeURIComponent(id)}`);
        const now = s.status ?? s.state ?? "waiting";
        setState(now);
        if (["connected", "succeeded", "done", "failed", "expired", "denied"].includes(now)) { clearInterval(timer); onDone(); }
      } catch { clearInterval(timer); }
    }, 2000);
    return () => clearInterval(timer);
  }, [id]);
  return (
    <section className="card" aria-live="polite">
      {code ? (
        <p>On a phone or computer, open <strong>{verification}</strong> and enter the code <strong className="code">{code}</strong>.</p>
      ) : url ? (
        <p>Sign in to Google in the window that opened. <a href={url} target="_blank" rel="noopener noreferrer">Open it again</a></p>
      ) : null}
      <p>Waiting for Google: {state}.</p>
    </section>
  );
}

function RemoteListing() {
  const remote = useLoad(() => get<{ items: RemoteFile[] }>("/api/v1/drive/remote"), []);
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
