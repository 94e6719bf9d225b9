"""``/zh``: opens the Airflow UI in Chinese (zh-CN, which Airflow 3.3 ships) with times in Asia/Shanghai.

Airflow 3.3 has no server-side default for the UI language or time zone: the React UI takes the language from
``?lng=``, the ``i18next`` cookie, ``localStorage.i18nextLng`` or the browser, and the time zone from
``localStorage.timezone`` or the browser's own. This page (same origin as the UI, no data, so no login needed)
stores 简体中文 and Asia/Shanghai the way the UI's own language and time-zone menus store them, then opens the UI.
Users can still change both in the UI. ``make run`` prints this address.
"""

from __future__ import annotations

import json

from airflow.plugins_manager import AirflowPlugin
from fastapi import FastAPI
from fastapi.responses import HTMLResponse

LANGUAGE = "zh-CN"
TIMEZONE = "Asia/Shanghai"

PAGE = f"""<!doctype html>
<html lang="{LANGUAGE}"><head><meta charset="utf-8"><title>Airflow</title>
<script>
localStorage.setItem("i18nextLng", {json.dumps(LANGUAGE)});
localStorage.setItem("timezone", {json.dumps(json.dumps(TIMEZONE))});
location.replace("../?lng={LANGUAGE}");
</script></head><body></body></html>
"""

app = FastAPI(title="ui-locale", docs_url=None, redoc_url=None, openapi_url=None)


@app.get("/", response_class=HTMLResponse, include_in_schema=False)
def open_ui() -> str:
    """Store the language and time zone, then open the UI."""
    return PAGE


class UiLocalePlugin(AirflowPlugin):
    """Serves ``/zh``."""

    name = "award_ui_locale"
    fastapi_apps = [{"app": app, "url_prefix": "/zh", "name": "ui_locale"}]
