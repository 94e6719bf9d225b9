"""Test set-up: private AIRFLOW_HOME and data folder before anything imports Airflow; shared fixtures."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

_TMP = Path(tempfile.mkdtemp(prefix="award-tests-"))
ROOT = Path(__file__).resolve().parents[1]

os.environ["AIRFLOW_HOME"] = str(_TMP / "airflow")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(ROOT / "plugins")
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
os.environ["AWARD_DATA_DIR"] = str(_TMP / "data")
os.environ["AWARD_TASK_RETRIES"] = "0"  # dag.test() would otherwise wait through retry delays on a failure
os.environ.pop("AWARD_DB_URL", None)
os.environ.pop("AWARD_SEASON_FILE", None)
for path in (ROOT, ROOT / "dags", ROOT / "plugins"):
    if str(path) not in sys.path:
        sys.path.append(str(path))

pytest_plugins = ["tests.servers", "tests.storefixtures", "tests.airflowfixtures"]
