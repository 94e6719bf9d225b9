#!/usr/bin/env bash
# airflow-init: one-shot set-up before the Airflow services start. Idempotent: runs on every `docker compose up`.
#   1. Airflow metadata migrations   2. pools from deploy/pools.json   3. domain store migrations (Alembic)
#   4. the UI admin password (simple auth manager) from AIRFLOW_ADMIN_PASSWORD
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

echo "== Airflow metadata database"
airflow db migrate

echo "== pools (${here}/pools.json)"
airflow pools import "${here}/pools.json"

echo "== domain store (AWARD_DB_URL)"
if award db --help 2>/dev/null | grep -q upgrade; then
  award db upgrade
else
  python -c "from award.store.db import migrate; migrate()"
fi

echo "== UI users"
auth_dir=/opt/airflow/auth
mkdir -p "${auth_dir}"
python - <<'PY'
import json, os
users = [u.split(":")[0] for u in os.environ.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "admin:admin").split(",") if u]
password = os.environ["AIRFLOW_ADMIN_PASSWORD"]
path = os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
with open(path, "w", encoding="utf-8") as fh:
    json.dump({user: password for user in users}, fh)
print(f"passwords set for {len(users)} user(s) in {path}")
PY
chmod 600 "${auth_dir}"/passwords.json
echo "== airflow-init done"
