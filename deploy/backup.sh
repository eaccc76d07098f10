#!/usr/bin/env bash
# Back up the portal's database into $BACKUP_DIR (default /var/backups/lkapp), keeping 14 days.
# SQLite: the online backup API (consistent while the portal runs). PostgreSQL: pg_dump -Fc.
set -euo pipefail
cd "$(dirname "$0")/.."
BACKUP_DIR=${BACKUP_DIR:-/var/backups/lkapp}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$BACKUP_DIR"

url=${LKAPP_DATABASE_URL:-}
if [[ -z "$url" || "$url" == sqlite* ]]; then
    .venv/bin/python - "$BACKUP_DIR/lkapp-$STAMP.sqlite3" <<'PY'
import sqlite3
import sys

from lkapp import create_app

app = create_app()
source = sqlite3.connect(app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///"))
target = sqlite3.connect(sys.argv[1])
with target:
    source.backup(target)
target.close()
source.close()
print(sys.argv[1])
PY
else
    pg_dump --format=custom --file="$BACKUP_DIR/lkapp-$STAMP.dump" "${url/+psycopg/}"
    echo "$BACKUP_DIR/lkapp-$STAMP.dump"
fi
find "$BACKUP_DIR" -name 'lkapp-*' -mtime +14 -delete
