"""The host name Airflow components report under ``make run`` (``[core] hostname_callable = loopback_host.hostname``).

Everything ``make run`` starts listens on 127.0.0.1 only, the task and triggerer log servers included; the api-server
fetches live logs from ``http://<task hostname>:<log port>``, so the host name must be that address (a machine's own
name may resolve to another loopback address such as 127.0.1.1, or to a public one).
"""

from __future__ import annotations

LOOPBACK = "127.0.0.1"


def hostname() -> str:
    """The loopback address."""
    return LOOPBACK
