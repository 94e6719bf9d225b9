"""China Quality Award nomination pipeline: the domain package (plain Python, no Airflow)."""

from award import logsafe

logsafe.install()  # no ID number, phone or e-mail address in the package's log records

__version__ = "0.1.0"
