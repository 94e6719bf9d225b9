"""Inbound: every object received (mail, shared-storage uploads) archived first, then read by its stage.
Entry points the DAGs call are listed in __all__."""

from __future__ import annotations

from typing import TYPE_CHECKING

from award.entrypoints import lazy

if TYPE_CHECKING:
    from award.inbound.sources import fetch_mail, fetch_storage, mail_source_from_env

__all__ = ["fetch_mail", "fetch_storage", "mail_source_from_env"]
__getattr__ = lazy(__name__, {"fetch_mail": ".sources", "fetch_storage": ".sources",
                              "mail_source_from_env": ".sources"})
