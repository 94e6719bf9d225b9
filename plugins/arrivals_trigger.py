"""``ArrivalsTrigger``: the triggerer's watcher for new mail and new uploads (event-driven intake).

Used in an ``AssetWatcher`` on the ``award_arrivals`` asset that the ``intake`` DAG is scheduled on (together with
its 15-minute timetable, the safety net). Event-driven scheduling accepts only ``BaseEventTrigger`` subclasses.

The trigger only asks "what is waiting?" (``award.intake.watch``: plain Python, no Airflow) and yields one event when
something waiting was not announced before; intake itself reads and takes the items. What is waiting is read from the
sources and the domain store, so a restarted triggerer announces whatever is still waiting: nothing is lost, and an
extra announcement is one extra intake run that takes nothing twice.

Sources (read in the triggerer's environment, like the tasks do):
- ``source="mail"``: ``AWARD_MAIL_SOURCE=maildir`` (default) lists the Maildir folder; ``imap`` keeps one connection
  to the ``award_imap`` mailbox and waits in IDLE where the server offers it, else polls ``STATUS UIDNEXT``.
- ``source="storage"``: lists ``incoming/`` in shared storage (``AWARD_SHARED_URL``: a folder, or S3 through the
  ``award_s3`` connection) against the archived source keys. A folder's files are announced once they stopped
  changing between two probes (a city may still be copying).

Airflow loads files in the plugins folder as top-level modules: the class path is ``arrivals_trigger.ArrivalsTrigger``.
Kept cheap at import (DAG files import it): the domain modules load in ``run``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from award.connections import IMAP_CONN_ID, S3_CONN_ID

CLASSPATH = "arrivals_trigger.ArrivalsTrigger"
SOURCES = ("mail", "storage")
IDLE_TIMEOUT = 600.0  # seconds in IDLE before the watcher checks anyway


class ArrivalsTrigger(BaseEventTrigger):
    """Fires when new mail (``source="mail"``) or new uploads (``source="storage"``) wait for intake."""

    def __init__(
        self,
        source: str,
        poll_interval: float = 5.0,
        folder: str = "office",
        prefix: str = "incoming/",
        imap_conn_id: str = IMAP_CONN_ID,
        s3_conn_id: str = S3_CONN_ID,
        retry_interval: float = 60.0,
    ) -> None:
        super().__init__()
        if source not in SOURCES:
            raise ValueError(f"ArrivalsTrigger: source must be one of {SOURCES}, got {source!r}")
        self.source = source
        self.poll_interval = float(poll_interval)
        self.folder = folder
        self.prefix = prefix
        self.imap_conn_id = imap_conn_id
        self.s3_conn_id = s3_conn_id
        self.retry_interval = float(retry_interval)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and keyword arguments (no secrets: connections are looked up in the triggerer)."""
        return CLASSPATH, {
            "source": self.source, "poll_interval": self.poll_interval, "folder": self.folder,
            "prefix": self.prefix, "imap_conn_id": self.imap_conn_id, "s3_conn_id": self.s3_conn_id,
            "retry_interval": self.retry_interval,
        }

    async def _probe(self) -> tuple[Any, bool]:
        """The domain probe for this source, and whether its announcements wait for a settled listing."""
        from award.store.db import default_url

        if self.source == "mail":
            from award.intake import imap_mailbox

            if imap_mailbox():
                from airflow.sdk import BaseHook

                from award.connections import ImapSettings
                from award.intake.watch import ImapProbe

                settings = ImapSettings.from_connection(await BaseHook.aget_connection(self.imap_conn_id))
                return await asyncio.to_thread(ImapProbe, settings, default_url()), False
            from award.intake.watch import MaildirProbe
            from award.runtime import maildir

            return MaildirProbe(maildir(), self.folder), False

        from award.intake.watch import StorageProbe
        from award.runtime import shared_storage, shared_url
        from award.storage import uses_s3

        client = None
        if uses_s3(shared_url()):
            from airflow.providers.amazon.aws.hooks.s3 import S3Hook

            client = await asyncio.to_thread(lambda: S3Hook(aws_conn_id=self.s3_conn_id).get_conn())
        storage = shared_storage(client=client)
        return StorageProbe(storage, default_url(), self.prefix), client is None

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Probe, announce what is new, then wait (IDLE push or a poll interval); a source error is retried."""
        from award.intake.watch import ArrivalWatch

        while True:
            try:
                probe, settle = await self._probe()
            except Exception as exc:  # noqa: BLE001 - an unreachable source is retried, never fatal
                self.log.warning("arrivals watcher (%s): cannot open the source: %s", self.source, exc)
                await asyncio.sleep(self.retry_interval)
                continue
            watch = ArrivalWatch(probe, settle=settle)
            self.log.info("arrivals watcher (%s): watching %s (%s)", self.source, probe.name,
                          "IDLE" if probe.push else f"every {self.poll_interval:g} s")
            try:
                while True:
                    new = await asyncio.to_thread(watch.check)
                    if new:
                        self.log.info("arrivals watcher (%s): %d new item(s) waiting", self.source, len(new))
                        yield TriggerEvent({"source": self.source, "name": probe.name, "new": len(new),
                                            "first": min(new)})
                    if probe.push:  # IDLE: back when the server reports a change (close() ends it at once)
                        await asyncio.to_thread(probe.wait, IDLE_TIMEOUT)
                    else:
                        await asyncio.sleep(self.poll_interval)
            except Exception as exc:  # noqa: BLE001 - reconnect after a pause; the schedule covers meanwhile
                self.log.warning("arrivals watcher (%s): %s; retrying in %g s", self.source, exc, self.retry_interval)
                await asyncio.sleep(self.retry_interval)
            finally:
                probe.close()
