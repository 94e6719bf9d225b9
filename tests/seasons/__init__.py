"""Season files used by the tests besides the shipped one: a second, different province (Zhejiang)."""

from pathlib import Path

ZHEJIANG = Path(__file__).resolve().parent / "zhejiang-cqa-5-2023.yaml"
