"""What the rules see of one application (:class:`CheckContext`): its fields, current materials and the season."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import TYPE_CHECKING

from award.choices import normalize_choice, options_for

if TYPE_CHECKING:
    from award.calendar import WorkCalendar
    from award.config import Season
    from award.forms.spec import FormSpec
    from award.store.models import Application, Material


@dataclass
class CheckContext:
    """What the rules see of one application: its fields, current materials and the season."""

    application: Application
    season: Season
    calendar: WorkCalendar
    load_blob: Callable[[str], bytes]
    today: date

    @cached_property
    def category(self) -> str:
        return self.application.category

    @cached_property
    def form(self) -> FormSpec:
        from award.forms.spec import form_for_category  # noqa: PLC0415 - award.forms (python-docx, pypdf) stays off the parse path

        return form_for_category(self.category)

    @cached_property
    def fields(self) -> dict[str, str]:
        """The form's fields, stripped, with choice synonyms normalised to the notice's words (初级中学 -> 初中)."""
        return {k: normalize_choice(k, "" if v is None else str(v)) for k, v in (self.application.fields or {}).items()}

    def options(self, key: str) -> tuple[str, ...]:
        """The options a choice field accepts for this category (the season may narrow the form's)."""
        return options_for(self.season, self.category, key, self.form.field(key).options)

    @cached_property
    def materials(self) -> dict[str, list[Material]]:
        """Current (not superseded) materials by kind, newest last."""
        out: dict[str, list[Material]] = {}
        for m in sorted(self.application.materials, key=lambda m: (m.received_at, m.id)):
            if m.superseded_by_id is None:
                out.setdefault(m.kind, []).append(m)
        return out

    def latest(self, kind: str) -> Material | None:
        items = self.materials.get(kind)
        return items[-1] if items else None

    @cached_property
    def channels(self) -> set[str]:
        return {self.application.channel, *(self.application.channels or [])}

    def label(self, key: str) -> str:
        return self.form.field(key).label

    @cached_property
    def form_missing(self) -> frozenset[str]:
        """Keys of the fields whose label the parser did not find in the current Word form (read again)."""
        from award.forms import FormError, parse_form  # noqa: PLC0415 - award.forms (python-docx, pypdf) stays off the parse path

        docx = self.latest("form_docx")
        if docx is None:
            return frozenset()
        try:
            parsed = parse_form(self.load_blob(docx.sha256), filename=docx.filename)
        except FormError:
            return frozenset()
        return frozenset(parsed.missing) if parsed.category == self.category else frozenset()

    @cached_property
    def pending_key_fields(self) -> frozenset[str]:
        """The key fields (credit code or ID number, a team's name) of an application registered under a stand-in
        key: blank, they go to staff review, never to a correction demand."""
        from award.intake.keyentry import is_pending  # noqa: PLC0415 - the store (SQLAlchemy models) stays off the parse path

        applicant = self.application.applicant
        if applicant is None or not is_pending(applicant.key):
            return frozenset()
        keys = {self.form.code_field} | ({"team_name"} if self.category == "team" else set())
        return frozenset(keys)

    def keys_of_type(self, *types: str) -> list[str]:
        return [f.key for f in self.form.fields if f.type in types]
