"""China Quality Award nomination pipeline: the domain package (plain Python, no Airflow)."""

__version__ = "0.1.0"
