"""Synthetic demo data: realistic applications with known defects (see ``award.demo.generator``)."""

from __future__ import annotations

from award.demo.generator import DEFECTS, GeneratedApplication, GenerationResult, generate

__all__ = ["DEFECTS", "GeneratedApplication", "GenerationResult", "generate"]
