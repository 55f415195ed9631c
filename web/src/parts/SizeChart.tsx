import { bytes, kindLabel, localTime } from "../format";
import type { Backup, BackupKind } from "../types";

// Archive sizes, oldest to newest, one line per kind: a sudden drop or jump is worth a look. Evenly
// spaced by backup, not by time, so a burst of manual backups stays readable.

const colors: Record<BackupKind, string> = { "db-incremental": "#7a9cc6", "db-full": "#1f5fa8", files: "#2e8b57", full: "#8a4fb0" };
const width = 720;
const height = 140;
const pad = 36;

export function SizeChart({ backups }: { backups: Backup[] }) {
  const points = backups.filter((b) => b.status === "succeeded" && b.size !== undefined)
    .map((b) => ({ t: new Date(b.startedAt).getTime(), size: b.size!, kind: b.kind }))
    .sort((a, b) => a.t - b.t);
  if (points.length < 2) return <p className="muted">The size chart appears after a few backups.</p>;
  const max = Math.max(...points.map((p) => p.size), 1);
  const x = (i: number) => pad + 6 + (i / (points.length - 1)) * (width - pad - 20);
  const y = (s: number) => height - 20 - (s / max) * (height - 30);
  const kinds = [...new Set(points.map((p) => p.kind))];
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-labelledby="sizes-title" data-testid="size-chart">
        <title id="sizes-title">{`Backup sizes over time; the largest is ${bytes(max)}.`}</title>
        <line x1={pad} x2={width - 8} y1={height - 20} y2={height - 20} className="axis" />
        <text x={0} y={14} className="day-label">{bytes(max)}</text>
        <text x={0} y={height - 22} className="day-label">0</text>
        <text x={pad} y={height - 4} className="day-label">{localTime(new Date(points[0].t).toISOString())}</text>
        <text x={width - 8} y={height - 4} className="day-label" textAnchor="end">{localTime(new Date(points[points.length - 1].t).toISOString())}</text>
        {kinds.map((kind) => {
          const series = points.map((p, i) => ({ ...p, i })).filter((p) => p.kind === kind);
          return (
            <g key={kind}>
              <polyline fill="none" stroke={colors[kind]} strokeWidth={2}
                        points={series.map((p) => `${x(p.i).toFixed(1)},${y(p.size).toFixed(1)}`).join(" ")} />
              {series.map((p, i) => <circle key={i} cx={x(p.i)} cy={y(p.size)} r={3.5} fill={colors[kind]} />)}
            </g>
          );
        })}
      </svg>
      <figcaption>
        {kinds.map((k) => <span key={k} className="series"><span className="swatch" style={{ background: colors[k] }} />{kindLabel(k)}</span>)}
      </figcaption>
    </figure>
  );
}
