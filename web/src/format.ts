import type { Backup, BackupKind, OffsiteCopy } from "./types";

// Words a store manager reads: local time with an age, sizes in human units, kinds by their schedule.

export const kindLabels: Record<BackupKind, string> = {
  "db-incremental": "DB hourly",
  "db-full": "DB daily",
  files: "Files",
  full: "Full",
};

export function kindLabel(kind: string): string {
  return (kindLabels as Record<string, string>)[kind] ?? kind;
}

export function bytes(n: number | undefined | null): string {
  if (n === undefined || n === null) return "—";
  const units = ["bytes", "KB", "MB", "GB", "TB"];
  let value = n;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  if (unit === 0) return `${n} ${n === 1 ? "byte" : "bytes"}`;
  return `${value >= 100 ? value.toFixed(0) : value.toFixed(1)} ${units[unit]}`;
}

const timeFormat = new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });

export function localTime(iso: string): string {
  return timeFormat.format(new Date(iso));
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** "42 minutes ago", "in 3 hours", "just now". */
export function age(iso: string, now: number = Date.now()): string {
  const seconds = Math.round((new Date(iso).getTime() - now) / 1000);
  const abs = Math.abs(seconds);
  let text: string;
  if (abs < 45) return seconds > 0 ? "in a few seconds" : "just now";
  else if (abs < 3600) text = plural(Math.round(abs / 60), "minute");
  else if (abs < 86400) text = plural(Math.round(abs / 3600), "hour");
  else text = plural(Math.round(abs / 86400), "day");
  return seconds > 0 ? `in ${text}` : `${text} ago`;
}

export function duration(seconds: number | undefined): string {
  if (seconds === undefined || !isFinite(seconds)) return "—";
  if (seconds < 60) return plural(Math.max(1, Math.round(seconds)), "second");
  if (seconds < 3600) return plural(Math.round(seconds / 60), "minute");
  return `${plural(Math.floor(seconds / 3600), "hour")} ${plural(Math.round((seconds % 3600) / 60), "minute")}`;
}

/** The phases of a job in words (ProgressPhase in openapi.json); an unknown one as it is. */
const phaseWords: Record<string, string> = {
  started: "Starting",
  snapshot: "Taking a consistent copy of the database",
  compare: "Finding the changed pages",
  compress: "Compressing",
  scan: "Looking for changed product files",
  archive: "Writing the archive",
  fsync: "Saving to disk",
  check: "Checking the files",
  verify: "Verifying the archive",
  publish: "Putting the archive in place",
  "integrity-check": "Checking the database",
  download: "Fetching the archive from its off-site copy",
  checksum: "Checking the archive's checksum",
  extract: "Unpacking",
  rebuild: "Rebuilding the database",
  copy: "Copying",
  "pre-restore-snapshot": "Keeping a copy of the current database",
  "extract-files": "Unpacking product files",
  apply: "Putting the database in place",
  "restore-files": "Putting product files back",
  upload: "Copying off-site",
  running: "Running (started elsewhere)",
  done: "Done",
};

export function phaseLabel(phase: string): string {
  return phaseWords[phase] ?? phase;
}

export function statusLabel(b: Backup): string {
  switch (b.status) {
    case "succeeded": return "OK";
    case "failed": return "Failed";
    case "running": return "Running";
    case "deleted": return "Deleted";
  }
}

/** "Google Drive" for google-drive. */
export function destinationLabel(name: string): string {
  return name === "google-drive" ? "Google Drive" : name;
}

export function offsiteLabel(copy: OffsiteCopy): string {
  const where = destinationLabel(copy.destination);
  switch (copy.status) {
    case "uploaded": return copy.verifiedAt ? `on ${where}, verified` : `on ${where}`;
    case "pending": return `waiting to go to ${where}`;
    case "failed": return `copy to ${where} failed${copy.error ? `: ${copy.error}` : ""}`;
    case "deleted": return `removed from ${where}`;
  }
}

/** Saved here, but an off-site copy is still waiting or failed (R11.3). */
export function isPartial(b: Backup): boolean {
  return b.status === "succeeded" && (b.offsite ?? []).some((c) => c.status === "pending" || c.status === "failed");
}
