"""What the desk reads from Airflow itself: human-in-the-loop questions still open (Required Actions) and task
instances that failed recently. Read from Airflow's metadata database through its ORM, in the api-server."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from urllib.parse import quote

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TaskRef:
    """A task instance and where its page is in the Airflow UI (a path relative to the UI root)."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    at: datetime | None
    subject: str = ""
    try_number: int = 0

    def ui_path(self, suffix: str = "") -> str:
        """``dags/<dag>/runs/<run>/tasks/<task>[/mapped/<i>][/<suffix>]``."""
        path = f"dags/{quote(self.dag_id, safe='')}/runs/{quote(self.run_id, safe='')}/tasks/{quote(self.task_id, safe='')}"
        if self.map_index >= 0:
            path += f"/mapped/{self.map_index}"
        return f"{path}/{suffix}" if suffix else path


class AirflowSide(Protocol):
    """The two questions the desk asks Airflow."""

    def pending_decisions(self, limit: int = 50) -> list[TaskRef]: ...
    def failed_tasks(self, since: timedelta = timedelta(hours=24), limit: int = 50) -> list[TaskRef]: ...


class MetadataDb:
    """Airflow's metadata database through its ORM (works inside the api-server)."""

    def pending_decisions(self, limit: int = 50) -> list[TaskRef]:
        """HITL questions without an answer, oldest first."""
        from airflow.models.hitl import HITLDetail
        from airflow.models.taskinstance import TaskInstance
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            rows = session.execute(
                select(TaskInstance.dag_id, TaskInstance.run_id, TaskInstance.task_id, TaskInstance.map_index,
                       HITLDetail.created_at, HITLDetail.subject)
                .join(TaskInstance, TaskInstance.id == HITLDetail.ti_id)
                .where(HITLDetail.responded_at.is_(None)).order_by(HITLDetail.created_at).limit(limit)
            ).all()
        return [TaskRef(d, r, t, m, at, subject or "") for d, r, t, m, at, subject in rows]

    def failed_tasks(self, since: timedelta = timedelta(hours=24), limit: int = 50) -> list[TaskRef]:
        """Task instances that ended failed within ``since``, newest first."""
        from airflow.models.taskinstance import TaskInstance
        from airflow.utils.session import create_session
        from airflow.utils.state import TaskInstanceState
        from airflow.utils.timezone import utcnow
        from sqlalchemy import select

        with create_session() as session:
            rows = session.execute(
                select(TaskInstance.dag_id, TaskInstance.run_id, TaskInstance.task_id, TaskInstance.map_index,
                       TaskInstance.end_date, TaskInstance.try_number)
                .where(TaskInstance.state == TaskInstanceState.FAILED, TaskInstance.end_date >= utcnow() - since)
                .order_by(TaskInstance.end_date.desc()).limit(limit)
            ).all()
        return [TaskRef(d, r, t, m, at, "", n or 0) for d, r, t, m, at, n in rows]
