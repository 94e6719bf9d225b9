"""Read models of the office's desk (申报工作台) and of ``award show``: queries only, no Airflow import.

``overview`` (the season at a glance), ``list_applications`` (filters and search), ``application_view`` (one
application: the stable JSON contract of ``award show --json``) and ``documents`` (reports, letters, notices,
packages). Every function takes a SQLAlchemy session and the season; ID numbers and phones are masked unless
``show_pii`` is asked for. The Airflow side (decisions waiting in Required Actions, failed tasks) lives in the
desk plugin, not here.
"""

from award.desk.documents import blob_for_download, documents, report_key
from award.desk.queries import (
    SCHEMA,
    WAITING_STATES,
    ApplicationFilter,
    ApplicationNotFound,
    application_view,
    list_applications,
    overview,
)

__all__ = [
    "SCHEMA",
    "WAITING_STATES",
    "ApplicationFilter",
    "ApplicationNotFound",
    "application_view",
    "blob_for_download",
    "documents",
    "list_applications",
    "overview",
    "report_key",
]
