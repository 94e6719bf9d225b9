"""A human-in-the-loop question whose required fields are required in the form, and which is asked again when
its answer is invalid, instead of failing the run.

Airflow's Required Actions page treats a param as required when its schema type excludes ``null``; but a task's
params are validated when the task starts, so such a param would need a non-null default, which the page would then
accept unchanged. Here the task keeps a nullable param (``Param(None, type=["null", "string"], ...)``) and the
question shown to people declares it non-nullable, so the page refuses an empty answer. An answer that still fails
the form's schema (given through the REST API, which does not validate params) or names an unknown option is logged
and the same question is put again: Airflow clears the stored answer when the question is written anew.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jsonschema
from airflow.providers.standard.operators.hitl import HITLOperator


def _non_null(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with ``null`` removed from its type."""
    kind = schema.get("type")
    if isinstance(kind, list):
        kept = [t for t in kind if t != "null"]
        return {**schema, "type": kept[0] if len(kept) == 1 else kept}
    return dict(schema)


class ReaskingHITLOperator(HITLOperator):
    """HITLOperator with required form fields that asks again on an invalid answer."""

    def __init__(self, *, required_params: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.required_params = tuple(required_params)

    @property
    def serialized_params(self) -> dict[str, dict[str, Any]]:
        """The params as the form shows them: each required one without ``null`` in its type."""
        out = dict(super().serialized_params)
        for name in self.required_params:
            out[name] = {**out[name], "schema": _non_null(out[name].get("schema") or {})}
        return out

    def _form_problem(self, params_input: dict[str, Any]) -> str | None:
        """Why ``params_input`` fails the form's schema, or None."""
        form = self.serialized_params
        for name in self.required_params:
            try:
                jsonschema.validate(params_input.get(name), form[name].get("schema") or {})
            except jsonschema.ValidationError as exc:
                return f"{name}: {exc.message}"
        return None

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        """Validate the answer; on a problem, log it and ask the same question again."""
        if "error" in event:
            return super().execute_complete(context, event)
        try:
            result = super().execute_complete(context, event)
        except ValueError as exc:  # unknown option, params that do not match, ParamValidationError
            problem: str | None = str(exc)
        else:
            problem = self._form_problem(dict(event.get("params_input") or {}))
            if problem is None:
                return result
        self.log.warning("invalid answer, asking again: %s", problem)
        return self.execute(context)
