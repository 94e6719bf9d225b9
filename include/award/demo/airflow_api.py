"""A small client of Airflow's REST API (``/api/v2``) for the demo commands: trigger, wait, answer, retry.

It speaks HTTP only (no Airflow import): a JWT from ``/auth/token`` (the simple auth manager's user and password,
``make run`` keeps them in ``$AIRFLOW_HOME/simple_auth_manager_passwords.json``), then the Core API.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

FINISHED = ("success", "failed")


class AirflowApiError(RuntimeError):
    """The API refused a call (status and text in the message)."""


@dataclass
class AirflowApi:
    """The api-server at ``base_url``, as ``user``."""

    base_url: str
    user: str
    password: str
    timeout: float = 60.0
    _token: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> AirflowApi:
        """The ``make run`` api-server: AIRFLOW__API__BASE_URL (or AIRFLOW_PORT), admin and its password file."""
        env = dict(os.environ if environ is None else environ)
        base = env.get("AIRFLOW__API__BASE_URL") or f"http://127.0.0.1:{env.get('AIRFLOW_PORT', '8080')}"
        user = env.get("AWARD_DEMO_USER", "admin")
        password = env.get("AWARD_DEMO_PASSWORD", "")
        if not password:
            files = [env.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", "")]
            home = env.get("AIRFLOW_HOME")
            if home:
                files.append(str(Path(home) / "simple_auth_manager_passwords.json"))
            for name in filter(None, files):
                path = Path(name)
                if path.is_file():
                    password = str(json.loads(path.read_text(encoding="utf-8")).get(user, ""))
                    break
        return cls(base.rstrip("/"), user, password)

    def _auth(self) -> dict[str, str]:
        if self._token is None:
            resp = httpx.post(f"{self.base_url}/auth/token", json={"username": self.user, "password": self.password},
                              timeout=self.timeout)
            if resp.status_code not in (200, 201):
                raise AirflowApiError(f"POST /auth/token: {resp.status_code} {resp.text[:300]}")
            self._token = str(resp.json()["access_token"])
        return {"Authorization": f"Bearer {self._token}"}

    def call(self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None,
             ok: tuple[int, ...] = (200,)) -> Any:
        """One call; a locked SQLite database or a busy server is tried again a few times."""
        for attempt in range(5):
            try:
                resp = httpx.request(method, f"{self.base_url}/api/v2{path}", json=body, params=params,
                                     headers=self._auth(), timeout=self.timeout)
            except httpx.TransportError:
                if attempt == 4:
                    raise
                time.sleep(2)
                continue
            if resp.status_code in ok:
                return resp.json() if resp.content else None
            if resp.status_code >= 500 or "locked" in resp.text:
                time.sleep(2)
                continue
            break
        raise AirflowApiError(f"{method} {path}: {resp.status_code} {resp.text[:500]}")

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None, prefix: str = "demo") -> str:
        """Start a manual run of ``dag_id`` (unpaused first); returns its run id."""
        self.call("PATCH", f"/dags/{dag_id}", {"is_paused": False})
        run_id = f"{prefix}__{dag_id}__{uuid.uuid4().hex[:8]}"
        self.call("POST", f"/dags/{dag_id}/dagRuns", {"dag_run_id": run_id, "logical_date": None,
                                                      "conf": conf or {}})
        return run_id

    def run_state(self, dag_id: str, run_id: str) -> str:
        return str(self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"])

    def runs(self, dag_id: str, states: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": 100, "order_by": "-run_after"}
        if states:
            params["state"] = list(states)
        return list(self.call("GET", f"/dags/{dag_id}/dagRuns", params=params)["dag_runs"])

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return list(self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances",
                              params={"limit": 1000})["task_instances"])

    def waiting_questions(self, dag_id: str = "~", run_id: str = "~") -> list[dict[str, Any]]:
        """Human-in-the-loop questions not answered yet (the Required Actions page)."""
        answer = self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/hitlDetails",
                           params={"response_received": False, "limit": 100})
        return [q for q in answer["hitl_details"]
                if (q.get("task_instance") or {}).get("state") == "awaiting_input"]

    def answer(self, question: dict[str, Any], chosen: list[str], params_input: dict[str, Any]) -> bool:
        """Answer one question as the Required Actions page does (False: answered already)."""
        ti = question["task_instance"]
        path = (f"/dags/{ti['dag_id']}/dagRuns/{ti['dag_run_id']}/taskInstances/{ti['task_id']}/"
                f"{ti.get('map_index', -1)}/hitlDetails")
        try:
            self.call("PATCH", path, {"chosen_options": chosen, "params_input": params_input})
        except AirflowApiError as exc:
            if ": 409 " in str(exc):
                return False
            raise
        return True

    def clear_failed(self, dag_id: str, run_id: str) -> None:
        """Clear the failed (and upstream-failed) task instances of a run so that they run again."""
        self.call("POST", f"/dags/{dag_id}/dagRuns/{run_id}/clear", {"dry_run": False, "only_failed": True})

    def log_tail(self, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1,
                 lines: int = 30) -> str:
        """The last lines of a task instance's log."""
        try:
            answer = self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
                               params={"map_index": map_index, "full_content": True})
        except (AirflowApiError, httpx.HTTPError) as exc:
            return f"(no log: {exc})"
        content = answer.get("content") if isinstance(answer, dict) else answer
        if isinstance(content, list):
            text = "\n".join(str(c.get("event", c)) if isinstance(c, dict) else str(c) for c in content)
        else:
            text = str(content)
        return "\n".join(text.splitlines()[-lines:])
