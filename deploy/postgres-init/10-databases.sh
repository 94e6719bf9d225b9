#!/usr/bin/env bash
# Runs once, on the first start of an empty PostgreSQL volume (docker-entrypoint-initdb.d):
# the Airflow metadata database and the domain store are separate databases with separate owners.
set -euo pipefail

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v airflow_user="$AIRFLOW_DB_USER" -v airflow_password="$AIRFLOW_DB_PASSWORD" \
  -v award_user="$AWARD_DB_USER" -v award_password="$AWARD_DB_PASSWORD" <<'SQL'
CREATE ROLE :"airflow_user" LOGIN PASSWORD :'airflow_password';
CREATE DATABASE airflow OWNER :"airflow_user" ENCODING 'UTF8';
CREATE ROLE :"award_user" LOGIN PASSWORD :'award_password';
CREATE DATABASE award OWNER :"award_user" ENCODING 'UTF8';
SQL
