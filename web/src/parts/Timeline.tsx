import { kindLabel, localTime } from "../format";
import type { Backup, BackupKind } from "../types";

// The restore points of the last 7 days as a picture: one lane per schedule (hourly, daily, weekly,
// monthly), one mark per backup; failed ones red, ones with an off-site copy ringed.

const lanes: { kind: BackupKind; label: string }[] = [
  { kind: "db-incremental", label: "Hourly" },
  { kind: "db-full", label: "Daily" },
  { kind: "files", label: "Weekly files" },
  { kind: "full", label: "Monthly full" },
];

const width = 720;
const left = 96;
const laneHeight = 26;
const top = 8;

export function Timeline({ backups, now }: { backups: Backup[]; now: number }) {
  const start = now - 7 * 86400_000;
  const shown = backups.filter((b) => b.status !== "deleted" && new Date(b.startedAt).getTime() >= start);
  const x = (t: number) => left + ((t - start) / (now - start)) * (width - left - 8);
  const height = top + lanes.length * laneHeight + 22;
  const days = Array.from({ length: 8 }, (_, i) => {
    const d = new Date(now - (7 - i) * 86400_000);
    d.setHours(0, 0, 0, 0);
    return d.getTime();
  }).filter((t) => t >= start);
  const failed = shown.filter((b) => b.status === "failed").length;
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-labelledby="timeline-title" data-testid="timeline">
        <title id="timeline-title">
          {`Restore points of the last 7 days: ${shown.length} backups${failed ? `, ${failed} failed` : ""}.`}
        </title>
        {lanes.map((lane, i) => (
          <g key={lane.kind}>
            <text x={0} y={top + i * laneHeight + 16} className="lane-label">{lane.label}</text>
            <line x1={left} x2={width - 8} y1={top + i * laneHeight + 12} y2={top + i * laneHeight + 12} className="lane" />
          </g>
        ))}
        {days.map((t) => (
          <g key={t}>
            <line x1={x(t)} x2={x(t)} y1={top} y2={top + lanes.length * laneHeight} className="day" />
            <text x={x(t) + 2} y={height - 6} className="day-label">
              {new Date(t).toLocaleDateString(undefined, { weekday: "short", day: "numeric" })}
            </text>
          </g>
        ))}
        {shown.map((b) => {
          const lane = lanes.findIndex((l) => l.kind === b.kind);
          const offsite = (b.offsite ?? []).some((c) => c.status === "uploaded");
          const cx = x(new Date(b.startedAt).getTime());
          const cy = top + lane * laneHeight + 12;
          return (
            <g key={b.id} className={`mark ${b.status}`} data-kind={b.kind} data-status={b.status}>
              <title>{`${kindLabel(b.kind)} backup ${b.id}, ${localTime(b.startedAt)}: ${b.status}${offsite ? ", copied off-site" : ""}`}</title>
              {offsite && <circle cx={cx} cy={cy} r={8} className="offsite-ring" />}
              <circle cx={cx} cy={cy} r={5} />
            </g>
          );
        })}
      </svg>
      <figcaption>
        <span className="key ok" /> backup <span className="key failed" /> failed <span className="key ring" /> copied off-site
      </figcaption>
    </figure>
  );
}
