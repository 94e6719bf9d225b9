"""Airflow plugin ``award_desk``: the office's desk (申报工作台) inside the Airflow UI.

A FastAPI app mounted by the api-server at ``/desk`` (``fastapi_apps``) and a navigation entry that shows it in
the UI (``external_views``, destination ``nav``). Every route requires a user authenticated by Airflow's auth
manager; see ``desk/app.py``. Python changes need an api-server restart.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin
from desk.app import PREFIX, create_app

desk_app = create_app()


class AwardDeskPlugin(AirflowPlugin):
    """Registers the desk's app and its navigation entry."""

    name = "award_desk"
    fastapi_apps = [{"app": desk_app, "url_prefix": PREFIX, "name": "申报工作台"}]
    external_views = [{"name": "申报工作台", "href": PREFIX.lstrip("/") + "/", "destination": "nav",
                       "url_route": "award_desk", "nav_top_level": True}]
