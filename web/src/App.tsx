import { useEffect, useState } from "react";
import { ApiError, onAuthProblem, optional, token } from "./api";
import type { SetupStatus } from "./types";
import { navigate, usePath } from "./router";
import { Link } from "./parts/Link";
import { OverviewPage } from "./pages/OverviewPage";
import { BackupsPage } from "./pages/BackupsPage";
import { RunBackupPage } from "./pages/RunBackupPage";
import { SettingsPage } from "./pages/SettingsPage";
import { LogsPage } from "./pages/LogsPage";
import { DrivePage } from "./pages/DrivePage";
import { WizardPage } from "./pages/WizardPage";

const pages = [
  { path: "/", title: "Overview" },
  { path: "/backups", title: "Backups" },
  { path: "/run", title: "Run backup now" },
  { path: "/settings", title: "Settings" },
  { path: "/drive", title: "Google Drive" },
  { path: "/logs", title: "Logs" },
];

export function App() {
  const [authProblem, setAuthProblem] = useState<ApiError | null>(null);
  const [restoredHere, setRestoredHere] = useState(false);
  const [setup, setSetup] = useState<SetupStatus | null | "loading">("loading");
  const { path, query } = usePath();

  useEffect(() => {
    onAuthProblem(setAuthProblem);
    // The wizard's state needs no token: a fresh install has no POS users yet. No such route: not a fresh install.
    optional<SetupStatus>("/api/v1/setup").then(setSetup, () => setSetup(null));
  }, []);

  const current = pages.find((p) => p.path === path) ?? pages[0];
  useTitle(current.title);

  if (setup === "loading") return <p className="loading">Loading…</p>;
  if (setup && setup.setup_required) {
    return <WizardPage storeName={setup.store_name} onDone={() => { setRestoredHere(true); setSetup({ ...setup, setup_required: false }); navigate("/"); }} />;
  }
  if (!token()) {
    return setup?.store_name !== undefined && restoredHere
      ? <SignInAgain title="The store is restored" reason="Sign in at the POS now: the backups page opens from there." />
      : <SignInAgain reason="No sign-in was handed over by the POS." />;
  }
  if (authProblem?.status === 401) return <SignInAgain reason={authProblem.message} />;
  if (authProblem?.status === 403) return <NotAllowed />;

  return (
    <div className="shell">
      <a className="skip" href="#main">Skip to the page</a>
      <header className="top">
        <span className="brand">Backups</span>
        <nav aria-label="Dashboard pages">
          <ul>
            {pages.map((p) => (
              <li key={p.path}>
                <Link to={p.path} current={p.path === current.path}>{p.title}</Link>
              </li>
            ))}
          </ul>
        </nav>
      </header>
      <main id="main" tabIndex={-1}>
        {current.path === "/" && <OverviewPage />}
        {current.path === "/backups" && <BackupsPage highlight={Number(query.get("highlight")) || undefined} storeName={setup?.store_name || undefined} />}
        {current.path === "/run" && <RunBackupPage />}
        {current.path === "/settings" && <SettingsPage />}
        {current.path === "/drive" && <DrivePage />}
        {current.path === "/logs" && <LogsPage backupId={Number(query.get("backup")) || undefined} />}
      </main>
    </div>
  );
}

function useTitle(title: string) {
  useEffect(() => {
    document.title = `${title} · Backups`;
  }, [title]);
}

function SignInAgain({ reason, title = "Please sign in again from the POS" }: { reason: string; title?: string }) {
  return (
    <main className="notice" id="main">
      <h1>{title}</h1>
      <p>Your sign-in has ended or is not valid here, so the backups cannot be shown.</p>
      <p>Open the POS, sign in, and choose <strong>Backups</strong> again. The POS opens this page with a fresh sign-in.</p>
      <p className="detail">{reason}</p>
    </main>
  );
}

function NotAllowed() {
  return (
    <main className="notice" id="main">
      <h1>You are not allowed to manage backups</h1>
      <p>Your POS user does not have the permission to manage settings (MANAGE_SETTINGS), which backups need.</p>
      <p>Ask the store manager or the owner to sign in at the POS, or to give your user that permission.</p>
    </main>
  );
}
