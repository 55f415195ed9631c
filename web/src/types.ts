// The API's shapes (Sources/Server/Resources/openapi.json). Fields other helpers are adding are optional.

export type BackupKind = "db-full" | "db-incremental" | "files" | "full";
export type BackupStatus = "running" | "succeeded" | "failed" | "deleted";

/** The backup's copy at one destination (e.g. google-drive). */
export interface OffsiteCopy {
  destination: string;
  status: "pending" | "uploaded" | "failed" | "deleted";
  uploadedAt?: string;
  verifiedAt?: string;
  attempts?: number;
  error?: string;
}

export interface Backup {
  id: number;
  uuid: string;
  kind: BackupKind;
  trigger: string;
  status: BackupStatus;
  startedAt: string;
  finishedAt?: string;
  durationSeconds?: number;
  size?: number;
  sha256?: string;
  fileName?: string;
  parentId?: number;
  error?: string;
  errorDetail?: string;
  userId?: string;
  stationId?: string;
  integrityCheck?: string;
  deletedAt?: string;
  deletedBy?: string;
  /** Its copies at destinations: local ok with one pending or failed is a partial success. */
  offsite?: OffsiteCopy[];
  /** For an hourly: its chain, named by the base (position 0), and its place in it. */
  chain?: { baseId: number; position: number };
}

export interface Page<T> { items: T[]; limit: number; offset: number; nextOffset?: number; total?: number }

export type ProgressPhase = string;

export interface ProgressUpdate {
  seq: number;
  phase: ProgressPhase;
  bytesDone: number;
  bytesTotal: number;
  etaSeconds?: number;
  elapsedSeconds: number;
  at: string;
}

export interface Restore {
  id: number;
  status: "running" | "succeeded" | "failed";
  sourceJobId?: number;
  sourceName: string;
  targetPath: string;
  startedAt: string;
  finishedAt?: string;
  preRestorePath?: string;
  error?: string;
  errorDetail?: string;
  recoverySteps?: string[];
  files?: { root?: string; restored: number; bytes: number; removed: number; configFiles: string[] };
}

export interface Alert {
  id: number;
  severity: "info" | "warning" | "critical";
  kind: string;
  message: string;
  detail?: string;
  createdAt: string;
  lastSeenAt: string;
  count: number;
  acknowledgedAt?: string;
}

export interface Destination { name: string; status: string; message: string }

/** GET /api/v1/drive and the overview's `drive`: no secret, the account's email at most. */
export interface DriveStatus {
  account?: string;
  folder: string;
  tokenState: "ok" | "expired" | "revoked" | "not connected";
  connectedAt?: string;
  /** Whether backups are being copied (false after a disconnect, a revoked grant or a full quota). */
  enabled: boolean;
  disabledReason?: string;
  lastVerifiedUpload?: string;
  pendingUploads: number;
  failedUploads: number;
  /** The backup being copied now; its progress: /api/v1/backups/{id}/upload-progress. */
  uploadingBackupId?: number;
}

export interface Overview {
  lastDatabaseBackup?: Backup;
  lastFileBackup?: Backup;
  lastFullBackup?: Backup;
  lastFailedBackup?: Backup;
  nextRuns: { kind: BackupKind; at: string }[];
  storage: { archiveCount: number; usedBytes: number; freeBytes?: number };
  destinations: Destination[];
  alerts: { open: number; newest: Alert[] };
  running?: { job: "backup" | "restore" | "starting"; id?: number; progress?: ProgressUpdate };
  drive?: DriveStatus;
  storeName?: string;
}

export interface LogLine { at: string; level: "info" | "warning" | "error"; message: string; phase?: string }

export interface AuditEntry {
  id: number;
  at: string;
  userId?: string;
  stationId?: string;
  client?: string;
  action: string;
  target?: string;
  outcome: string;
  detail?: string;
}

export interface Settings {
  schedules: {
    timeZone?: string | null;
    dbIncremental: { enabled: boolean; minute: number };
    dbFull: { enabled: boolean; hour: number; minute: number };
    files: { enabled: boolean; weekday: number; hour: number; minute: number };
    full: { enabled: boolean; day: number; hour: number; minute: number };
  };
  retention: {
    keepHourly: number; keepDaily: number; keepWeekly: number; keepMonthly: number;
    keepFileBackups: number; keepFullArchives: number; remoteKeep: number;
  };
  files: { excludes: string[] };
  alerts: { webhookURL?: string | null };
  heartbeat: { databaseURL?: string | null; filesURL?: string | null };
  /** Which kinds are copied off-site. */
  uploads?: { dbIncremental: boolean; dbFull: boolean; files: boolean; full: boolean };
}

export interface FieldError { field: string; message: string }

export interface DeletionPreview {
  backup: Backup;
  local?: { fileName: string; size: number; exists: boolean };
  remote: OffsiteCopy[];
  /** Hourlies that rebuild from this backup: they cannot be restored once it is gone. */
  dependents: number[];
  retention?: { keep: boolean; reason: string };
  keptAfter: { kind: BackupKind; count: number; newest?: string }[];
}

export interface VerifyResult { id: number; status: "ok" | "failed"; error?: string; entries?: number; integrity?: string; durationSeconds?: number }

export interface SetupStatus { setup_required: boolean; store_name: string }
