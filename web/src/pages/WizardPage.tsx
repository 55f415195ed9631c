import { useState } from "react";
import { ApiError, setupFetch } from "../api";
import { bytes } from "../format";
import type { Restore } from "../types";
import { ErrorBox, Field, ProgressView } from "../parts/common";
import { useJobStream } from "../parts/useJob";
import { WizardDrive } from "./WizardDrive";

// The fresh-install wizard (R8): a store with no POS database. Unlocked by the one-time setup code the
// service printed to its log; the archive is uploaded as the File itself (streamed by the browser, never
// read into memory here), verified by the server, then restored.

export function WizardPage({ storeName, onDone }: { storeName?: string; onDone: () => void }) {
  const [code, setCode] = useState("");
  const [codeOk, setCodeOk] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [file, setFile] = useState<File | null>(null);
  const [sent, setSent] = useState<number | null>(null);
  const [restoreId, setRestoreId] = useState<number | null>(null);
  const job = useJobStream<Restore>(restoreId ? `/api/v1/setup/restore/${restoreId}/progress` : null, { Authorization: `Setup ${code}` });

  const checkCode = async () => {
    setError(null);
    try {
      await setupFetch("/api/v1/setup/verify-code", code.trim(), { method: "POST" });
      setCode(code.trim());
      setCodeOk(true);
    } catch (e) {
      setError(e instanceof ApiError && (e.status === 401 || e.status === 403) ? new Error("That setup code is not right. Copy it again from the service's log or from the setup-code file in its data folder.") : e);
    }
  };

  const upload = () => {
    if (!file) return;
    setError(null);
    setSent(0);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/v1/setup/restore?confirm=true");
    xhr.setRequestHeader("Authorization", `Setup ${code}`);
    xhr.setRequestHeader("Content-Type", "application/zip");
    xhr.upload.onprogress = (e) => setSent(e.loaded);
    xhr.onerror = () => { setSent(null); setError(new Error("The upload was cut off. Check the connection to the store server and try again.")); };
    xhr.onload = () => {
      let body: { id?: number; error?: { message?: string } } = {};
      try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300 && body.id !== undefined) {
        setRestoreId(body.id);
      } else {
        setSent(null);
        setError(new Error(body.error?.message ?? `The archive was refused (${xhr.status}). Nothing was changed.`));
      }
    };
    xhr.send(file);
  };

  // A restore that ends before its progress is asked for has already used up the setup code: the
  // server's "already set up" is then the success.
  const setUpMeanwhile = job.error instanceof ApiError && job.error.code === "setup_done";
  const end: Restore | null = job.end ?? (setUpMeanwhile ? { id: restoreId ?? 0, status: "succeeded", sourceName: "", targetPath: "", startedAt: "" } : null);
  return (
    <main className="wizard" id="main">
      <h1>Bring back {storeName ?? "this store"} from a backup</h1>
      <p>This server has no store data yet. Restore it from a backup archive (a .zip file caps-backup made), or from the store's copies on Google Drive.</p>
      {!codeOk && (
        <form onSubmit={(e) => { e.preventDefault(); checkCode(); }}>
          <Field id="setup-code" label="Setup code" hint="Printed in the backup service's log when it started, and kept in the file setup-code in its data folder.">
            <input id="setup-code" value={code} onChange={(e) => setCode(e.target.value)} autoComplete="one-time-code" autoFocus />
          </Field>
          <ErrorBox error={error} />
          <button type="submit" className="primary" disabled={!code.trim()}>Continue</button>
        </form>
      )}
      {codeOk && restoreId === null && <h2>From a backup file</h2>}
      {codeOk && restoreId === null && (
        <form onSubmit={(e) => { e.preventDefault(); upload(); }}>
          <Field id="archive" label="Backup archive">
            <input id="archive" type="file" accept=".zip,application/zip" onChange={(e) => setFile(e.target.files?.[0] ?? null)} />
          </Field>
          {file && <p>{file.name}, {bytes(file.size)}</p>}
          {sent !== null && file && (
            <div role="status"><progress aria-label="Upload progress" max={file.size} value={sent} /> {bytes(sent)} of {bytes(file.size)} sent
              {sent >= file.size ? " — checking the archive…" : ""}</div>
          )}
          <ErrorBox error={error} />
          <button type="submit" className="primary" disabled={!file || sent !== null}>Restore</button>
        </form>
      )}
      {codeOk && restoreId === null && <WizardDrive code={code} onStarted={setRestoreId} />}
      {restoreId !== null && !end && <><ProgressView update={job.update} label="Restore progress" /><ErrorBox error={setUpMeanwhile ? null : job.error} /></>}
      {end && end.status === "succeeded" && (
        <div role="status"><p className="success">The store is restored. The backups start on their schedule.</p>
          <button type="button" className="primary" onClick={onDone}>Open the overview</button></div>
      )}
      {end && end.status === "failed" && (
        <div role="alert"><p className="error">The restore failed: {end.error}</p>
          {end.recoverySteps && <ol>{end.recoverySteps.map((s, i) => <li key={i}>{s}</li>)}</ol>}</div>
      )}
    </main>
  );
}
