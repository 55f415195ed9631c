#!/usr/bin/env python3
"""Browser tests of the dashboard (part of `make test`): Debian's headless Chromium, driven by Selenium
through Debian's chromedriver, against the real `caps-backup serve --demo` on a small demo store.

Each test signs in on the demo's /login page (which hands the token to the dashboard as the POS does,
/#token=…), acts as a store manager would, checks the outcome in the page AND in the store (the API, the
archive on disk, the live database), and saves a screenshot under .build-browser/screenshots/. No fixed
sleeps: every wait is WebDriverWait on a condition.

    tests/browser/run_browser_tests.py --bin .build/debug/caps-backup [--only NAME] [--keep]
"""
import argparse
import glob
import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
SHOTS = os.path.join(ROOT, ".build-browser", "screenshots")
WAIT = 60


def until(condition, what, timeout=WAIT):
    """Waits for a condition (as WebDriverWait does in the page), checking every 20 ms."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class Store:
    """A demo store and `caps-backup serve --demo` over it, on a free loopback port."""

    def __init__(self, binary, work, empty=False, config=None):
        """`empty`: a fresh install (no POS database, an empty uploads folder), as the wizard finds it.
        `config`: a config file (the [google] section pointing at the fake Google)."""
        self.bin, self.work = binary, work
        self.dir = os.path.join(work, "store")
        self.data = os.path.join(work, "data")
        self.pos_db = os.path.join(self.dir, "pos.db")
        self.uploads = os.path.join(self.dir, "uploads")
        if empty:
            os.makedirs(self.uploads)
            self.args = ["--pos-db", self.pos_db, "--uploads", self.uploads, "--data-dir", self.data]
        else:
            subprocess.run([binary, "demo", "seed", "--dir", self.dir, "--size-mb", "2", "--images", "8"],
                           check=True, stdout=subprocess.DEVNULL)
            config_dir = os.path.join(self.dir, "config")
            self.args = ["--pos-db", self.pos_db, "--uploads", self.uploads, "--data-dir", self.data,
                         "--config-files", ",".join(os.path.join(config_dir, f) for f in sorted(os.listdir(config_dir)))]
        if config:
            self.args += ["--config", config]
        self.server = None
        self.start()

    def start(self):
        os.makedirs(self.work, exist_ok=True)
        log = open(os.path.join(self.work, "server.log"), "ab")
        self.server = subprocess.Popen([self.bin, "serve", "--demo", "--no-scheduler", "--listen", "127.0.0.1:0", *self.args],
                                       stdout=subprocess.PIPE, stderr=log, text=True)
        line = self.server.stdout.readline()
        if "listening on" not in line:
            raise SystemExit(f"caps-backup serve did not start: {line!r}; see {self.work}/server.log")
        self.base = line.split("listening on", 1)[1].strip()
        self.token = json.loads(self.call("POST", "/login", {"user": "admin"}, token=False))["token"]

    def stop(self):
        if self.server:
            self.server.send_signal(signal.SIGTERM)
            self.server.wait(timeout=120)
            self.server = None

    def restart(self):
        self.stop()
        self.start()

    def call(self, method, path, body=None, token=True):
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = json.dumps(body).encode() if body is not None else None
        with urllib.request.urlopen(urllib.request.Request(self.base + path, data=data, headers=headers, method=method), timeout=60) as r:
            return r.read()

    def api(self, path):
        return json.loads(self.call("GET", path))

    def backup(self, kind="db-full"):
        """A backup made through the API, waited for."""
        for _ in range(100):
            try:
                job = json.loads(self.call("POST", "/api/v1/backups", {"kind": kind}))
                break
            except urllib.error.HTTPError as error:
                if error.code != 409:
                    raise
                # Busy: the previous job is still closing (retention, its record); wait for its end.
                running = self.api("/api/v1/overview").get("running") or {}
                if running.get("job") == "backup" and "id" in running:
                    self.follow(running["id"])
        else:
            raise AssertionError("the service stayed busy")
        job = self.follow(job["id"])
        assert job["status"] == "succeeded", job
        # The end event comes before the job lets go of the service (retention runs after it): wait for
        # that too, so the next action of a test does not meet a busy service.
        until(lambda: not self.api("/api/v1/overview").get("running"), "the service to be idle")
        return job

    def follow(self, backup_id):
        """The backup's final record, from its progress stream (which ends with it): no polling, no sleeping."""
        request = urllib.request.Request(f"{self.base}/api/v1/backups/{backup_id}/progress", headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(request, timeout=WAIT) as stream:
            event = None
            for raw in stream:
                line = raw.decode().rstrip("\n")
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:") and event == "end":
                    return json.loads(line[5:])
        raise AssertionError(f"the progress stream of backup {backup_id} ended without its end event")

    def setup_code(self):
        return open(os.path.join(self.data, "setup-code")).read().strip()

    def archive_path(self, backup):
        found = glob.glob(os.path.join(self.data, "**", backup["fileName"]), recursive=True)
        assert found, f"no archive {backup['fileName']} under {self.data}"
        return found[0]


class FakeGoogle:
    """Our protocol-faithful fake Google (Sources/FakeGoogle) on loopback, and a config file whose [google]
    section points at it with the fake's Desktop OAuth client."""

    def __init__(self, binary, work):
        self.process = subprocess.Popen([binary], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.base = self.process.stdout.readline().strip()
        assert self.base.startswith("http://"), self.base
        self.config = os.path.join(work, "caps-backup.toml")
        os.makedirs(work, exist_ok=True)
        with open(self.config, "w") as f:
            f.write(f"""[google]
client_id = "1000-desktop.apps.googleusercontent.com"
client_secret = "GOCSPX-fake-desktop-secret"
auth_endpoint = "{self.base}/o/oauth2/v2/auth"
token_endpoint = "{self.base}/token"
device_endpoint = "{self.base}/device/code"
revoke_endpoint = "{self.base}/revoke"
drive_api_base = "{self.base}"
""")
        os.chmod(self.config, 0o600)

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)


class Browser:
    def __init__(self, store, downloads, width=1280):
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
        for arg in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={width},1000", "--lang=en-US"]:
            options.add_argument(arg)
        options.add_experimental_option("prefs", {"download.default_directory": downloads, "download.prompt_for_download": False})
        self.driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"))
        self.store = store
        self.wait = WebDriverWait(self.driver, WAIT)

    def sign_in(self, user="admin", path="/"):
        d = self.driver
        d.get(self.store.base + "/login")
        d.find_element(By.CSS_SELECTOR, f'button[data-user="{user}"]').click()
        self.wait.until(lambda d: d.execute_script("return location.pathname") == "/" and "#" not in d.current_url
                        and d.find_elements(By.CSS_SELECTOR, "h1"))
        if path != "/":
            self.go(path)

    def go(self, path):
        self.driver.get(self.store.base + path)

    def heading(self, text):
        self.wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, "h1"), text))

    def find(self, css):
        return self.wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, css)))

    def click_text(self, text, within="body"):
        xpath = f"//{'*' if within == 'body' else within}//button[normalize-space()='{text}'] | //{'*' if within == 'body' else within}//a[normalize-space()='{text}']"
        element = self.wait.until(EC.element_to_be_clickable((By.XPATH, xpath)))
        element.click()
        return element

    def shot(self, name):
        os.makedirs(SHOTS, exist_ok=True)
        # The whole page, not only the window.
        height = self.driver.execute_script("return document.documentElement.scrollHeight")
        width = self.driver.execute_script("return window.outerWidth")
        self.driver.set_window_size(width, max(1000, min(height + 120, 4000)))
        self.driver.execute_script("window.scrollTo(0, 0)")
        self.driver.save_screenshot(os.path.join(SHOTS, f"{name}.png"))

    def quit(self):
        self.driver.quit()


# --- the tests ------------------------------------------------------------------------------------

def test_admin_sees_overview_with_last_backup_and_timeline(store, browser):
    made = [store.backup(kind) for kind in ["db-full", "db-incremental", "files", "full"]]
    overview = store.api("/api/v1/overview")
    last_db = overview["lastDatabaseBackup"]
    assert last_db["id"] == made[1]["id"], last_db
    browser.sign_in("admin")
    browser.heading("Overview")
    for test_id, backup in [("last-db", last_db), ("last-files", made[2]), ("last-full", made[3])]:
        card = browser.find(f'[data-testid="{test_id}"]')
        browser.wait.until(lambda d: f"backup {backup['id']}" in card.text)
        assert "just now" in card.text or "ago" in card.text, card.text
    # One mark per backup on its lane of the timeline, and the size chart.
    for backup in made:
        marks = browser.driver.find_elements(By.CSS_SELECTOR, f'[data-testid="timeline"] .mark[data-kind="{backup["kind"]}"]')
        assert marks, f"no mark for {backup['kind']}"
    browser.find('[data-testid="size-chart"]')
    # The token left the address bar and lives in sessionStorage only.
    assert "token" not in browser.driver.current_url
    assert browser.driver.execute_script("return sessionStorage.getItem('caps-backup.token')")
    assert not browser.driver.execute_script("return localStorage.length")
    browser.shot("overview")


def test_cashier_sees_not_allowed(store, browser):
    browser.sign_in("cashier")
    browser.heading("You are not allowed to manage backups")
    assert not browser.driver.find_elements(By.CSS_SELECTOR, "nav")
    browser.shot("cashier-not-allowed")


def test_invalid_token_asks_to_sign_in_again(store, browser):
    browser.go("/#token=not-a-valid-token")
    browser.heading("Please sign in again from the POS")
    browser.shot("sign-in-again")


def test_run_backup_now_shows_progress_then_the_new_row(store, browser):
    before = {b["id"] for b in store.api("/api/v1/backups?limit=500")["items"]}
    browser.sign_in("admin", "/run")
    browser.heading("Run backup now")
    browser.find('input[value="db-full"]').click()
    # Records every phase the live view shows (it is gone once the job is done).
    browser.driver.execute_script("""
        window.phasesSeen = [];
        new MutationObserver(() => document.querySelectorAll('[data-phase]').forEach((e) => {
          if (!window.phasesSeen.includes(e.dataset.phase)) window.phasesSeen.push(e.dataset.phase);
        })).observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
    """)
    browser.driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    done = browser.find('[data-testid="backup-done"]')
    phases = browser.driver.execute_script("return window.phasesSeen")
    assert phases, "the live progress never showed a phase"
    browser.shot("run-backup-done")
    after = {b["id"]: b for b in store.api("/api/v1/backups?limit=500")["items"]}
    new = sorted(set(after) - before)
    assert len(new) == 1 and after[new[0]]["status"] == "succeeded", new
    assert f"Backup {new[0]} is done" in done.text, done.text
    print(f"     phases shown: {', '.join(phases)}")
    browser.click_text("See it in the list")
    row = browser.find(f'tr.highlight[data-backup-id="{new[0]}"]')
    assert "DB daily" in row.text
    browser.shot("backups")


def test_download_gives_the_archive(store, browser, downloads):
    backup = store.backup("db-full")
    browser.sign_in("admin", "/backups")
    browser.heading("Backups")
    browser.find(f'button[aria-label="Download backup {backup["id"]}"]').click()
    target = os.path.join(downloads, backup["fileName"])
    browser.wait.until(lambda d: os.path.exists(target) and not glob.glob(os.path.join(downloads, "*.crdownload")))
    digest = hashlib.sha256(open(target, "rb").read()).hexdigest()
    assert digest == backup["sha256"], (digest, backup["sha256"])
    assert digest == hashlib.sha256(open(store.archive_path(backup), "rb").read()).hexdigest()


def test_delete_with_confirm_removes_it(store, browser):
    backup = store.backup("db-full")
    archive = store.archive_path(backup)
    browser.sign_in("admin", "/backups")
    browser.find(f'button[aria-label="Delete backup {backup["id"]}"]').click()
    dialog = browser.find("dialog[open]")
    listing = dialog.find_element(By.CSS_SELECTOR, '[data-testid="deletion-list"]').text
    assert backup["fileName"] in listing, listing
    # What is left afterwards, from the deletion preview: retention kept one daily today, this one.
    kept = browser.find('[data-testid="deletion-kept"]').text
    assert "DB daily: none left" in kept, kept
    browser.shot("delete-dialog")
    dialog.find_element(By.XPATH, ".//button[normalize-space()='Delete']").click()
    browser.wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, ".notice-line"), f"Backup {backup['id']} was deleted"))
    assert store.api(f"/api/v1/backups/{backup['id']}")["backup"]["status"] == "deleted"
    assert not os.path.exists(archive)


def next_run_text(browser, kind):
    return browser.find(f'[data-testid="next-runs"] li[data-kind="{kind}"]').text


def test_settings_change_persists_and_moves_the_next_run(store, browser):
    browser.sign_in("admin", "/settings")
    browser.heading("Settings")
    hour = browser.find("#setting-schedules-dbFull-hour")
    new_hour = (int(hour.get_attribute("value")) + 5) % 24
    before = next((r["at"] for r in store.api("/api/v1/overview")["nextRuns"] if r["kind"] == "db-full"), None)
    hour.clear()
    hour.send_keys(str(new_hour))
    # Which kinds go to Google Drive: hourlies too, now.
    uploads_before = store.api("/api/v1/settings")["uploads"]["dbIncremental"]
    toggle = browser.find("#setting-uploads-dbIncremental")
    browser.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", toggle)  # not under the sticky Save bar
    toggle.click()
    browser.driver.find_element(By.XPATH, "//button[normalize-space()='Save settings']").click()
    saved = browser.find('[data-testid="settings-saved"]')
    assert store.api("/api/v1/settings")["uploads"]["dbIncremental"] == (not uploads_before)
    after = next(r["at"] for r in store.api("/api/v1/overview")["nextRuns"] if r["kind"] == "db-full")
    assert after != before, (before, after)
    assert store.api("/api/v1/settings")["schedules"]["dbFull"]["hour"] == new_hour
    assert "DB daily" in saved.text
    browser.shot("settings-saved")
    browser.driver.refresh()
    browser.wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#setting-schedules-dbFull-hour").get_attribute("value") == str(new_hour))
    browser.go("/")
    shown = next_run_text(browser, "db-full")
    assert f"{new_hour:02d}:" in shown or f"{new_hour % 12 or 12}:" in shown, shown


def test_an_invalid_setting_shows_its_field_error(store, browser):
    browser.sign_in("admin", "/settings")
    minute = browser.find("#setting-schedules-dbIncremental-minute")
    minute.clear()
    minute.send_keys("75")
    browser.driver.find_element(By.XPATH, "//button[normalize-space()='Save settings']").click()
    error = browser.find("#setting-schedules-dbIncremental-minute-error")
    assert error.text, "no message"
    assert minute.get_attribute("aria-invalid") == "true"
    assert store.api("/api/v1/settings")["schedules"]["dbIncremental"]["minute"] != 75
    browser.shot("settings-field-error")


def marker(store, value=None):
    """A row in the POS database (Store.pos_db) to tell its versions apart."""
    with sqlite3.connect(store.pos_db) as db:
        db.execute("CREATE TABLE IF NOT EXISTS browser_test_marker (value TEXT)")
        if value is not None:
            db.execute("DELETE FROM browser_test_marker")
            db.execute("INSERT INTO browser_test_marker VALUES (?)", (value,))
        row = db.execute("SELECT value FROM browser_test_marker").fetchone()
    return row[0] if row else None


def test_restore_from_a_row_with_typed_confirmation(store, browser):
    marker(store, "in the backup")
    backup = store.backup("db-full")
    marker(store, "written after the backup")
    browser.sign_in("admin", "/backups")
    browser.find(f'button[aria-label="Restore backup {backup["id"]}"]').click()
    dialog = browser.find("dialog[open]")
    assert dialog.find_element(By.XPATH, ".//label[contains(., 'Keep a copy of the current database')]/input").is_selected()
    submit = dialog.find_element(By.XPATH, ".//button[normalize-space()='Restore']")
    assert not submit.is_enabled(), "Restore must wait for the typed confirmation"
    dialog.find_element(By.ID, "restore-confirm").send_keys("RESTORE")
    browser.shot("restore-dialog")
    submit.click()
    browser.find('[data-testid="restore-done"]')
    browser.shot("restore-done")
    assert marker(store) == "in the backup"


def test_job_log_survives_a_restart(store, browser):
    backup = store.backup("db-full")
    store.restart()
    browser.sign_in("admin", f"/logs?backup={backup['id']}")
    log = browser.find('[data-testid="job-log"]')
    browser.wait.until(lambda d: f"Backup {backup['id']}" in log.text)
    # Lines of the live log, kept in the catalog ("snapshot started"), not only what the record can tell.
    assert "snapshot started" in log.text, log.text
    browser.find('[data-testid="audit-log"] tbody tr')
    browser.shot("logs")


def wizard_upload(browser, path):
    browser.find("#archive").send_keys(path)
    browser.driver.find_element(By.XPATH, "//main//button[normalize-space()='Restore']").click()


def enter_setup_code(browser, code):
    field = browser.find("#setup-code")
    field.clear()
    field.send_keys(code)
    browser.driver.find_element(By.XPATH, "//button[normalize-space()='Continue']").click()


def test_wizard_refuses_a_wrong_setup_code(store, browser, empty):
    browser.sign_in("admin")
    browser.heading("Bring back")
    enter_setup_code(browser, "AAAA-BBBB-CCCC-DDDD-EEEE-FFFF-GGGG-HHHH")
    error = browser.find("main .error")
    assert "setup code is not right" in error.text, error.text
    assert browser.driver.find_elements(By.CSS_SELECTOR, "#setup-code"), "the wizard went on with a wrong code"
    browser.shot("wizard-wrong-code")


def test_wizard_shows_a_corrupted_archive_and_changes_nothing(store, browser, empty):
    source = store.archive_path(store.backup("db-full"))
    corrupted = os.path.join(empty.work, "corrupted.zip")
    data = bytearray(open(source, "rb").read())
    for i in range(len(data) // 2, len(data) // 2 + 64):
        data[i] ^= 0xFF
    open(corrupted, "wb").write(bytes(data))
    browser.sign_in("admin")
    enter_setup_code(browser, empty.setup_code())
    wizard_upload(browser, corrupted)
    error = browser.find("main .error")
    assert "Nothing was changed" in error.text or "nothing" in error.text.lower(), error.text
    browser.shot("wizard-corrupted")
    assert not os.path.exists(empty.pos_db) or os.path.getsize(empty.pos_db) == 0
    assert json.loads(empty.call("GET", "/api/v1/setup", token=False))["setup_required"]


def test_wizard_restores_a_valid_archive_and_the_overview_appears(store, browser, empty):
    marker(store, "restored by the wizard")
    backup = store.backup("db-full")
    browser.sign_in("admin")
    browser.heading("Bring back")
    browser.shot("wizard")
    enter_setup_code(browser, empty.setup_code())
    wizard_upload(browser, store.archive_path(backup))
    browser.click_text("Open the overview")
    browser.heading("Overview")
    browser.shot("wizard-done-overview")
    assert marker(empty) == "restored by the wizard"
    assert not json.loads(empty.call("GET", "/api/v1/setup", token=False))["setup_required"]
    assert not os.path.exists(os.path.join(empty.data, "setup-code")), "the used setup code is still there"


def connect_in_googles_tab(browser, within="body"):
    """Connect Google Drive: Google's consent page opens in a tab of its own and comes back to this
    server's callback; then back to the dashboard's tab, which checks again."""
    dashboard = browser.driver.current_window_handle
    browser.click_text("Connect Google Drive", within=within)
    browser.wait.until(lambda d: len(d.window_handles) == 2)
    browser.driver.switch_to.window([h for h in browser.driver.window_handles if h != dashboard][0])
    browser.wait.until(EC.text_to_be_present_in_element((By.TAG_NAME, "body"), "Google Drive is connected"))
    browser.driver.close()
    browser.driver.switch_to.window(dashboard)
    browser.click_text("Check again")


def test_google_drive_connect_and_disconnect(store, browser):
    browser.sign_in("admin", "/drive")
    browser.heading("Google Drive")
    status = browser.find('[data-testid="drive-status"]')
    assert "Not connected" in status.text, status.text
    connect_in_googles_tab(browser)
    browser.wait.until(lambda d: "Connected as" in d.find_element(By.CSS_SELECTOR, '[data-testid="drive-status"]').text)
    drive = store.api("/api/v1/drive")
    assert drive["tokenState"] == "ok" and drive["account"], drive
    assert drive["account"] in browser.find('[data-testid="drive-status"]').text
    browser.shot("google-drive-connected")
    browser.go("/")
    browser.wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, '[aria-labelledby="offsite-title"]'), f"Connected as {drive['account']}"))
    # A backup now also goes to Drive (its copy waits in the outbox, or is there already): the row says so,
    # and deleting it names that copy.
    backup = store.backup("db-full")
    copies = store.api(f"/api/v1/backups/{backup['id']}")["backup"].get("offsite", [])
    assert [c["destination"] for c in copies] == ["google-drive"], copies
    browser.go("/backups")
    row = browser.find(f'tr[data-backup-id="{backup["id"]}"]').text
    assert "to Google Drive" in row or "on Google Drive" in row, row
    browser.find(f'button[aria-label="Delete backup {backup["id"]}"]').click()
    listing = browser.find('dialog[open] [data-testid="deletion-list"]').text
    assert "its copy on Google Drive" in listing, listing
    browser.shot("delete-dialog-drive-copy")
    browser.driver.find_element(By.XPATH, "//dialog//button[normalize-space()='Cancel']").click()
    browser.go("/drive")
    browser.click_text("Disconnect")
    browser.wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, ".notice-line"), "Google Drive is disconnected"))
    assert store.api("/api/v1/drive")["tokenState"] == "not connected"


def connect_drive_by_api(store):
    """Connects the store's Drive without a browser: the fake's consent page approves and redirects to the
    store's callback, which urllib follows."""
    started = json.loads(store.call("POST", "/api/v1/drive/connect", {"flow": "code"}))
    with urllib.request.urlopen(started["authorization_url"], timeout=60) as page:
        assert "Google Drive is connected" in page.read().decode(), "the callback did not connect"


def test_wizard_restores_a_backup_from_google_drive(store, browser):
    # The old server copies a backup to Drive (its uploader runs after each backup).
    connect_drive_by_api(store)
    marker(store, "restored from Google Drive")
    backup = store.backup("db-full")
    until(lambda: [c["status"] for c in store.api(f"/api/v1/backups/{backup['id']}")["backup"].get("offsite", [])] == ["uploaded"],
          "the backup's copy on Google Drive")
    # A new server, empty, with the same [google] client (and so the same folder).
    fresh = Store(store.bin, os.path.join(store.work, "fresh-drive"), empty=True, config=store.args[store.args.index("--config") + 1])
    try:
        browser.store = fresh
        browser.sign_in("admin")
        browser.heading("Bring back")
        enter_setup_code(browser, fresh.setup_code())
        browser.find('[data-testid="wizard-drive"]')
        connect_in_googles_tab(browser, within='section[@data-testid="wizard-drive"]')
        row = browser.find('[data-testid="drive-backups"] tbody tr')
        assert "DB daily" in row.text, row.text
        browser.shot("wizard-google-drive")
        row.find_element(By.XPATH, ".//button[normalize-space()='Restore']").click()
        browser.click_text("Open the overview")
        browser.heading("Overview")
        assert marker(fresh) == "restored from Google Drive"
        assert not json.loads(fresh.call("GET", "/api/v1/setup", token=False))["setup_required"]
    finally:
        fresh.stop()
        store.call("POST", "/api/v1/drive/disconnect")


def test_verify_from_a_row(store, browser):
    backup = store.backup("db-full")
    browser.sign_in("admin", "/backups")
    browser.find(f'button[aria-label="Verify backup {backup["id"]}"]').click()
    browser.wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, ".notice-line"), f"Backup {backup['id']} is sound"))


def test_every_control_is_labelled_and_the_pages_work_by_keyboard(store, browser):
    store.backup("db-full")
    browser.sign_in("admin")
    unlabelled = """
        return [...document.querySelectorAll('input, select, textarea, button, a[href]')].filter((e) => {
          if (e.type === 'hidden' || e.closest('datalist')) return false;
          const name = (e.getAttribute('aria-label') || (e.labels && [...e.labels].map((l) => l.textContent).join('')) || e.textContent || '').trim();
          return !name;
        }).map((e) => e.outerHTML.slice(0, 120));
    """
    for path, heading in [("/", "Overview"), ("/backups", "Backups"), ("/run", "Run backup now"), ("/settings", "Settings"),
                          ("/logs", "Logs"), ("/drive", "Google Drive")]:
        browser.go(path)
        browser.heading(heading)
        browser.find("main h1")
        if path == "/backups":
            browser.find("table.backups tbody tr")
        assert not browser.driver.execute_script(unlabelled), (path, browser.driver.execute_script(unlabelled))
    # By keyboard alone: Tab to the "Run backup now" page link, Enter, choose with the arrow keys, start with Enter.
    browser.go("/")
    browser.heading("Overview")
    body = browser.driver.find_element(By.TAG_NAME, "body")
    for _ in range(12):
        body = browser.driver.switch_to.active_element
        if body.text == "Run backup now" and body.tag_name == "a":
            break
        body.send_keys(Keys.TAB)
    assert browser.driver.switch_to.active_element.text == "Run backup now"
    browser.driver.switch_to.active_element.send_keys(Keys.ENTER)
    browser.heading("Run backup now")
    radio = browser.find('input[value="db-full"]')
    radio.send_keys(Keys.ARROW_LEFT)  # db-incremental, before db-full
    assert browser.find('input[value="db-incremental"]').is_selected()
    browser.driver.switch_to.active_element.send_keys(Keys.ENTER)  # submits the form
    browser.find('[data-testid="backup-done"]')


TESTS = [v for k, v in list(globals().items()) if k.startswith("test_")]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--only", help="run the tests whose name contains this")
    parser.add_argument("--keep", action="store_true", help="keep the temporary store")
    parser.add_argument("--width", type=int, default=1280)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="caps-browser-")
    binary = os.path.abspath(args.bin)
    google = FakeGoogle(os.path.join(os.path.dirname(binary), "fake-google"), os.path.join(work, "google"))
    store = Store(binary, work, config=google.config)
    empty = None
    failures = []
    try:
        for test in TESTS:
            if args.only and args.only not in test.__name__:
                continue
            downloads = tempfile.mkdtemp(dir=work, prefix="downloads-")
            browser = Browser(store, downloads, args.width)
            started = time.monotonic()
            try:
                wants = test.__code__.co_varnames[:test.__code__.co_argcount]
                kwargs = {}
                if "downloads" in wants:
                    kwargs["downloads"] = downloads
                if "empty" in wants:
                    # One fresh install for the wizard's tests, in order: refusals first, then the restore.
                    if empty is None:
                        empty = Store(store.bin, os.path.join(work, "empty"), empty=True)
                    kwargs["empty"] = empty
                    browser.store = empty
                test(store, browser, **kwargs)
                print(f"ok   {test.__name__} ({time.monotonic() - started:.1f} s)", flush=True)
            except (AssertionError, TimeoutException, Exception):
                failures.append(test.__name__)
                browser.shot(f"FAILED-{test.__name__}")
                print(f"FAIL {test.__name__}\n{traceback.format_exc()}", flush=True)
                for entry in browser.driver.get_log("browser")[-10:]:
                    print("  console:", entry.get("message"), flush=True)
            finally:
                browser.quit()
    finally:
        store.stop()
        if empty is not None:
            empty.stop()
        google.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print("kept", work)
    print(f"browser tests: {len(failures)} failed" if failures else "browser tests: all passed; screenshots in .build-browser/screenshots/")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
