"""The desk in a real browser: Debian's Chromium + chromedriver (selenium) against a real ``airflow api-server``.

The api-server runs on a free port with the plugins folder, the test session's AIRFLOW_HOME (its metadata DB is
migrated once per session) and the simple auth manager with a known password. The browser logs in through
Airflow's login page, opens the desk from the navigation, checks the overview's counts against the store, opens
one application and downloads one of its files. The screenshot is kept as a test artefact
($AWARD_TEST_ARTEFACTS, default var/test-artefacts/).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from award.config import load_season
from award.storage.blobs import LocalBlobStore
from award.store import session_scope
from award.store.db import migrate
from award.store.models import Application
from tests.desk.seed import Seeded, seed_season

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
PASSWORD = "desk-browser-test"
CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--lang=zh-CN",
                "--window-size=1440,1000"]

pytestmark = pytest.mark.slow


def _need(condition: bool, why: str) -> None:
    if not condition:
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)


def artefacts_dir() -> Path:
    """Where test artefacts (screenshots) go."""
    path = Path(os.environ.get("AWARD_TEST_ARTEFACTS") or ROOT / "var" / "test-artefacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A running api-server with the desk, and the store it reads."""

    url: str
    db_url: str
    seeded: Seeded
    blobs: LocalBlobStore


@pytest.fixture(scope="module")
def server(airflow_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``airflow api-server`` with the plugins folder on a free port, over a seeded store."""
    tmp = tmp_path_factory.mktemp("desk-browser")
    db_url = f"sqlite:///{tmp / 'award.db'}"
    migrate(db_url)
    blobs = LocalBlobStore(tmp / "blobs")
    season = load_season()
    with session_scope(db_url) as session:
        seeded = seed_season(session, season, blobs, count=24)
    passwords = tmp / "passwords.json"
    passwords.write_text(json.dumps({"admin": PASSWORD}))
    port = _free_port()
    env = {**os.environ, "AIRFLOW__API__WORKERS": "1", "AIRFLOW__API__SECRET_KEY": "desk-browser-test-secret",
           "AIRFLOW__API_AUTH__JWT_SECRET": "desk-browser-test-jwt", "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
           "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"), "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
           "AWARD_DB_URL": db_url, "AWARD_BLOB_URL": str(blobs.root), "AWARD_DATA_DIR": str(tmp / "data")}
    env.pop("AWARD_SEASON_FILE", None)
    airflow = Path(sys.executable).with_name("airflow")
    log = open(tmp / "api-server.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([str(airflow), "api-server", "--host", "127.0.0.1", "--port", str(port)], env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc, tmp / "api-server.log")
        yield Server(url, db_url, seeded, blobs)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 240) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"api-server exited {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(1)  # polling a server that is starting, not racing with work
    raise RuntimeError(f"api-server not healthy after {timeout} s:\n{log.read_text(errors='replace')[-3000:]}")


@pytest.fixture()
def browser(tmp_path: Path) -> Iterator[object]:
    """Headless Chromium through chromedriver, downloading into ``tmp_path / 'downloads'``."""
    _need(os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER),
          "Debian's chromium and chromium-driver are needed (apt-get install chromium chromium-driver)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:  # pragma: no cover - a dev dependency
        _need(False, "selenium is needed (dev dependency)")
        raise
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False,
                                              "intl.accept_languages": "zh-CN,zh"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(0)
    driver.download_dir = downloads  # type: ignore[attr-defined]
    try:
        yield driver
    finally:
        driver.quit()


def _wait(driver: object, condition: Any, timeout: float = 60) -> object:
    """Wait for ``condition``; a look taken while the page was navigating (the UI redirects to its login page and
    back with JavaScript) is taken again, not a failure. Seen once in CI: 'aborted by navigation'."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    def settled(d: Any) -> Any:
        try:
            return condition(d)
        except WebDriverException as exc:
            if "navigat" in (exc.msg or ""):
                return False
            raise

    return WebDriverWait(driver, timeout).until(settled)  # type: ignore[arg-type]


def test_desk_in_the_browser(server: Server, browser: object) -> None:
    try:
        _walk(server, browser)
    except Exception:
        browser.save_screenshot(str(artefacts_dir() / "desk-failure.png"))  # type: ignore[attr-defined]
        (artefacts_dir() / "desk-failure.html").write_text(browser.page_source)  # type: ignore[attr-defined]
        raise


def _walk(server: Server, browser: object) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    d = browser
    d.get(f"{server.url}/")  # type: ignore[attr-defined]
    # Airflow's own login page (simple auth manager)
    user = _wait(d, ec.element_to_be_clickable((By.NAME, "username")))
    user.send_keys("admin")  # type: ignore[attr-defined]
    d.find_element(By.NAME, "password").send_keys(PASSWORD)  # type: ignore[attr-defined]
    d.find_element(By.CSS_SELECTOR, "button[type=submit]").click()  # type: ignore[attr-defined]
    # the desk's entry in Airflow's navigation
    nav = _wait(d, ec.element_to_be_clickable((By.CSS_SELECTOR, "a[aria-label='申报工作台']")))
    nav.click()  # type: ignore[attr-defined]
    _wait(d, ec.frame_to_be_available_and_switch_to_it((By.CSS_SELECTOR, "iframe")))
    total = _wait(d, ec.presence_of_element_located((By.ID, "total")))
    with session_scope(server.db_url) as session:
        in_store = session.scalar(select(func.count()).select_from(Application))
        by_state = dict(session.execute(select(Application.state, func.count()).group_by(Application.state)).all())
    assert int(total.text) == in_store == 24  # type: ignore[attr-defined]
    shown = {row.get_attribute("data-state"): int(row.find_elements(By.TAG_NAME, "td")[1].text)
             for row in d.find_elements(By.CSS_SELECTOR, "#by-state tr[data-state]")}  # type: ignore[attr-defined]
    assert shown == by_state
    page = d.page_source  # type: ignore[attr-defined]
    assert "暂时无法读取" not in page  # the plugin read Airflow's metadata (Required Actions, failed tasks)
    assert "required_actions?response_received=false" in page
    d.switch_to.default_content()  # type: ignore[attr-defined]
    shot = artefacts_dir() / "desk-overview.png"
    d.save_screenshot(str(shot))  # type: ignore[attr-defined]
    assert shot.stat().st_size > 10_000
    # one application, one of its files
    _wait(d, ec.frame_to_be_available_and_switch_to_it((By.CSS_SELECTOR, "iframe")))
    d.find_element(By.LINK_TEXT, server.seeded.incomplete).click()  # type: ignore[attr-defined]
    title = _wait(d, ec.presence_of_element_located((By.ID, "title")))
    assert server.seeded.incomplete in title.text  # type: ignore[attr-defined]
    link = d.find_element(By.CSS_SELECTOR, "#files a[download]")  # type: ignore[attr-defined]
    row_sha = link.find_element(By.XPATH, "./ancestor::tr//code").text
    name = link.text
    link.click()
    target = d.download_dir / name  # type: ignore[attr-defined]
    _wait(d, lambda _d: target.exists() and target.stat().st_size > 0, timeout=60)
    assert hashlib.sha256(target.read_bytes()).hexdigest() == row_sha
    assert server.blobs.get_bytes(row_sha) == target.read_bytes()
    d.switch_to.default_content()  # type: ignore[attr-defined]
    d.save_screenshot(str(artefacts_dir() / "desk-application.png"))  # type: ignore[attr-defined]
