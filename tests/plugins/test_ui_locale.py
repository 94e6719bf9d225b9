"""``/zh`` (plugins/ui_locale.py) opens the Airflow UI in Chinese with Beijing times, without patching Airflow: it
stores the UI's own language and time-zone settings, in the format the UI's menus store them, for a language that
Airflow 3.3 ships."""

from __future__ import annotations

import json
import re
from pathlib import Path

import airflow


def test_zh_page_stores_chinese_and_asia_shanghai() -> None:
    from fastapi.testclient import TestClient
    from ui_locale import UiLocalePlugin

    [entry] = UiLocalePlugin.fastapi_apps
    assert entry["url_prefix"] == "/zh"
    page = TestClient(entry["app"]).get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    stored = dict(re.findall(r'localStorage\.setItem\("([^"]+)", (.+?)\);', page.text))
    assert json.loads(stored["i18nextLng"]) == "zh-CN"
    assert json.loads(json.loads(stored["timezone"])) == "Asia/Shanghai"  # the UI keeps JSON in localStorage
    assert 'location.replace("../?lng=zh-CN")' in page.text


def test_airflow_ships_the_chinese_translation_and_reads_these_keys() -> None:
    dist = Path(airflow.__file__).parent / "ui" / "dist"
    assert (dist / "i18n" / "locales" / "zh-CN").is_dir()
    bundle = "".join(p.read_text(errors="ignore") for p in (dist / "assets").glob("index-*.js"))
    assert "lookupLocalStorage:`i18nextLng`" in bundle and "=`timezone`" in bundle
