"""Airflow plugin ``award_desk``: the office's desk (申报工作台) inside the Airflow UI.

A FastAPI app mounted by the api-server at ``/desk`` (``fastapi_apps``) and a navigation entry that shows it in
the UI (``external_views``, destination ``nav``). Every route requires a user authenticated by Airflow's auth
manager; see ``desk/app.py``. Python changes need an api-server restart.

Every Airflow process loads the plugins (the scheduler and the dag-processor for the timetables), but only the
api-server reads ``fastapi_apps``: the app (FastAPI, Airflow's API security module) is built on that first read,
so the other processes do not pay for importing it.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from airflow.plugins_manager import AirflowPlugin

PREFIX = "/desk"  # desk.app.PREFIX
NAME = "申报工作台"


@cache
def desk_app() -> Any:
    """The desk's FastAPI app (built once per process)."""
    from desk.app import create_app

    return create_app()


class AwardDeskPlugin(AirflowPlugin):
    """Registers the desk's app and its navigation entry."""

    name = "award_desk"
    external_views = [{"name": NAME, "href": PREFIX.lstrip("/") + "/", "destination": "nav",
                       "url_route": "award_desk", "nav_top_level": True}]

    @property
    def fastapi_apps(self) -> list[dict[str, Any]]:  # read by the api-server only
        return [{"app": desk_app(), "url_prefix": PREFIX, "name": NAME}]
