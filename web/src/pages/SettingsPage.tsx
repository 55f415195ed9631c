import { useEffect, useState } from "react";
import type { ReactNode } from "react";
import { ApiError, get, send } from "../api";
import { kindLabel } from "../format";
import type { FieldError, Overview, Settings } from "../types";
import { ErrorBox, Field, When } from "../parts/common";

/** The settings' `uploads` keys in the dashboard's words. */
const uploadLabels: Record<string, string> = {
  dbIncremental: "DB hourly (each needs its chain: usually kept here only)",
  dbFull: "DB daily",
  files: "Files (weekly)",
  full: "Full (monthly)",
};

const weekdays = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

type Path = (string | number)[];

function getAt(value: unknown, path: Path): unknown {
  return path.reduce<unknown>((v, k) => (v as Record<string | number, unknown> | undefined)?.[k], value);
}

function setAt<T>(value: T, path: Path, next: unknown): T {
  if (path.length === 0) return next as T;
  const [head, ...rest] = path;
  const copy: Record<string | number, unknown> = Array.isArray(value) ? [...value] as unknown as Record<number, unknown> : { ...(value as object) } as Record<string, unknown>;
  copy[head] = setAt(copy[head], rest, next);
  return copy as T;
}

export function SettingsPage() {
  const [settings, setSettings] = useState<Settings | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [errors, setErrors] = useState<FieldError[]>([]);
  const [saveError, setSaveError] = useState<unknown>(null);
  const [saved, setSaved] = useState<Overview["nextRuns"] | null>(null);
  const [saving, setSaving] = useState(false);
  const [excludes, setExcludes] = useState("");

  useEffect(() => {
    get<Settings>("/api/v1/settings").then((s) => { setSettings(s); setExcludes(s.files.excludes.join("\n")); }, setLoadError);
  }, []);

  if (loadError) return <><h1>Settings</h1><ErrorBox error={loadError} /></>;
  if (!settings) return <><h1>Settings</h1><p>Loading…</p></>;

  const fieldError = (path: Path) => {
    const name = path.join(".");
    return errors.find((e) => e.field === name || e.field === `/${path.join("/")}` || e.field.endsWith(name))?.message;
  };
  const change = (path: Path, value: unknown) => { setSettings(setAt(settings, path, value)); setSaved(null); };
  const id = (path: Path) => `setting-${path.join("-")}`;

  const number = (path: Path, label: string, min: number, max: number) => (
    <Field id={id(path)} label={label} error={fieldError(path)}>
      <input id={id(path)} type="number" inputMode="numeric" min={min} max={max} value={String(getAt(settings, path) ?? "")}
             aria-invalid={fieldError(path) ? true : undefined} aria-describedby={fieldError(path) ? `${id(path)}-error` : undefined}
             onChange={(e) => change(path, e.target.value === "" ? null : Number(e.target.value))} />
    </Field>
  );
  const toggle = (path: Path, label: string) => (
    <label className="check" htmlFor={id(path)}>
      <input id={id(path)} type="checkbox" checked={Boolean(getAt(settings, path))} onChange={(e) => change(path, e.target.checked)} /> {label}
    </label>
  );
  const url = (path: Path, label: string, hint: string) => (
    <Field id={id(path)} label={label} error={fieldError(path)} hint={hint}>
      <input id={id(path)} type="text" inputMode="url" value={String(getAt(settings, path) ?? "")} placeholder="https://…"
             aria-invalid={fieldError(path) ? true : undefined}
             onChange={(e) => change(path, e.target.value.trim() === "" ? null : e.target.value)} />
    </Field>
  );

  const save = async () => {
    setSaving(true);
    setErrors([]);
    setSaveError(null);
    const body: Settings = { ...settings, files: { excludes: excludes.split("\n").map((l) => l.trim()).filter(Boolean) } };
    try {
      const stored = await send<Settings>("PUT", "/api/v1/settings", body);
      setSettings(stored);
      setExcludes(stored.files.excludes.join("\n"));
      const overview = await get<Overview>("/api/v1/overview");
      setSaved(overview.nextRuns);
    } catch (e) {
      if (e instanceof ApiError && e.fields.length) setErrors(e.fields);
      setSaveError(e);
    } finally {
      setSaving(false);
    }
  };

  const zones = (Intl as unknown as { supportedValuesOf?: (k: string) => string[] }).supportedValuesOf?.("timeZone") ?? [];
  const uploads = settings.uploads;
  return (
    <>
      <h1>Settings</h1>
      <form onSubmit={(e) => { e.preventDefault(); save(); }} noValidate>
        <Section title="Schedules">
          <Field id="setting-tz" label="Time zone of the store" error={fieldError(["schedules", "timeZone"])} hint="Empty: the server's time zone.">
            <input id="setting-tz" list="time-zones" value={settings.schedules.timeZone ?? ""}
                   onChange={(e) => change(["schedules", "timeZone"], e.target.value.trim() === "" ? null : e.target.value)} />
            <datalist id="time-zones">{zones.map((z) => <option key={z} value={z} />)}</datalist>
          </Field>
          <fieldset>
            <legend>Database, hourly (changes only)</legend>
            {toggle(["schedules", "dbIncremental", "enabled"], "Every hour")}
            <div className="row">{number(["schedules", "dbIncremental", "minute"], "At minute", 0, 59)}</div>
          </fieldset>
          <fieldset>
            <legend>Database, daily (full)</legend>
            {toggle(["schedules", "dbFull", "enabled"], "Every day")}
            <div className="row">{number(["schedules", "dbFull", "hour"], "Hour", 0, 23)}{number(["schedules", "dbFull", "minute"], "Minute", 0, 59)}</div>
          </fieldset>
          <fieldset>
            <legend>Product files, weekly</legend>
            {toggle(["schedules", "files", "enabled"], "Every week")}
            <div className="row">
              <Field id="setting-files-weekday" label="Day" error={fieldError(["schedules", "files", "weekday"])}>
                <select id="setting-files-weekday" value={settings.schedules.files.weekday} onChange={(e) => change(["schedules", "files", "weekday"], Number(e.target.value))}>
                  {weekdays.map((d, i) => <option key={d} value={i + 1}>{d}</option>)}
                </select>
              </Field>
              {number(["schedules", "files", "hour"], "Hour", 0, 23)}{number(["schedules", "files", "minute"], "Minute", 0, 59)}
            </div>
          </fieldset>
          <fieldset>
            <legend>Full archive, monthly</legend>
            {toggle(["schedules", "full", "enabled"], "Every month")}
            <div className="row">{number(["schedules", "full", "day"], "Day of the month", 1, 28)}{number(["schedules", "full", "hour"], "Hour", 0, 23)}{number(["schedules", "full", "minute"], "Minute", 0, 59)}</div>
          </fieldset>
        </Section>
        <Section title="How many backups to keep">
          <div className="row wrap">
            {number(["retention", "keepHourly"], "Hourly", 0, 1000)}
            {number(["retention", "keepDaily"], "Daily", 0, 1000)}
            {number(["retention", "keepWeekly"], "Weekly", 0, 520)}
            {number(["retention", "keepMonthly"], "Monthly", 0, 240)}
            {number(["retention", "keepFileBackups"], "File backups", 1, 100)}
            {number(["retention", "keepFullArchives"], "Full archives", 1, 240)}
            {number(["retention", "remoteKeep"], "Kept on Google Drive", 1, 1000)}
          </div>
        </Section>
        <Section title="Product files">
          <Field id="setting-excludes" label="Files not to back up (one pattern a line, e.g. cache/**)" error={fieldError(["files", "excludes"])}>
            <textarea id="setting-excludes" rows={4} value={excludes} onChange={(e) => { setExcludes(e.target.value); setSaved(null); }} />
          </Field>
        </Section>
        {uploads && typeof uploads === "object" && (
          <Section title="Copied to Google Drive">
            <p className="muted">Which backups are copied to Google Drive once it is connected.</p>
            {Object.keys(uploadLabels).filter((k) => typeof (uploads as Record<string, unknown>)[k] === "boolean").map((k) => (
              <div key={k}>{toggle(["uploads", k], uploadLabels[k])}</div>
            ))}
          </Section>
        )}
        <Section title="Alerts">
          {url(["alerts", "webhookURL"], "Webhook URL for alerts", "Each new alert is sent there as JSON. Empty: none.")}
          {url(["heartbeat", "databaseURL"], "Heartbeat URL for database backups", "Pinged after each database backup (healthchecks.io style).")}
          {url(["heartbeat", "filesURL"], "Heartbeat URL for file backups", "Pinged after each file backup.")}
        </Section>
        {errors.length > 0 && <p className="error" role="alert">Nothing was saved: {errors.length === 1 ? "one value needs" : `${errors.length} values need`} fixing (marked above).</p>}
        {errors.length === 0 && <ErrorBox error={saveError} />}
        <div className="buttons sticky"><button type="submit" className="primary" disabled={saving}>{saving ? "Saving…" : "Save settings"}</button></div>
        {saved && (
          <div role="status" className="success-box" data-testid="settings-saved">
            <p className="success">Settings saved. The next runs are now:</p>
            <ul className="plain" data-testid="next-runs">{saved.map((r) => <li key={r.kind} data-kind={r.kind}>{kindLabel(r.kind)}: <When at={r.at} /></li>)}</ul>
          </div>
        )}
      </form>
    </>
  );
}

function Section({ title, children }: { title: string; children: ReactNode }) {
  return <section className="settings-section"><h2>{title}</h2>{children}</section>;
}
