import { useEffect } from "react";
import type { Backup } from "../types";
import { ProgressView } from "./common";
import { Link } from "./Link";
import { useJobStream } from "./useJob";

/** The off-site copy the service is uploading now, live from its event stream; `onEnd` when it is done. */
export function UploadNow({ backupId, onEnd }: { backupId: number; onEnd: () => void }) {
  const { update, end } = useJobStream<Backup>(`/api/v1/backups/${backupId}/upload-progress`);
  // The caller reloads the status, which then names the next copy, or none.
  useEffect(() => { if (end) onEnd(); }, [end]);
  if (end) return null;
  return (
    <div data-testid="upload-now">
      <p>Copying <Link to={`/backups?highlight=${backupId}`}>backup {backupId}</Link> to Google Drive:</p>
      <ProgressView update={update} label={`Copy of backup ${backupId} to Google Drive`} />
    </div>
  );
}
