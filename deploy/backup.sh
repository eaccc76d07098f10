#!/usr/bin/env bash
# Back up the portal into $BACKUP_DIR (default /var/backups/lkapp), keeping 14 days: the database
# (SQLite: the online backup API, consistent while the portal runs; PostgreSQL: pg_dump -Fc) and
# the files customers attached to their questions (instance/attachments; an empty folder when
# there are none). Run it with the portal's settings, as lkapp-backup.service does
# (EnvironmentFile=/etc/lkapp/env): it asks the app where the database is. Each copy is checked
# before the script says it is done; any failure exits non-zero. Backups are readable by their
# owner alone.
set -euo pipefail
umask 077
cd "$(dirname "$0")/.."
export BACKUP_DIR=${BACKUP_DIR:-/var/backups/lkapp}
mkdir -p "$BACKUP_DIR"
.venv/bin/python - <<'PY'
import os
import sqlite3
import subprocess
import sys
import tarfile
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from lkapp import create_app
from lkapp.extensions import db
from lkapp.support.services import ATTACHMENTS

folder = Path(os.environ["BACKUP_DIR"])
stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
app = create_app()
with app.app_context():
    url = db.engine.url


def fail(reason):
    sys.exit(f"backup.sh: {reason}; no backup made")


class CopyFailed(Exception):
    pass


# Each file is written under a ".part" name and renamed when every copy has passed its check:
# a failed run leaves nothing that looks like a backup (an operator restores the newest).
parts = []


def part(name):
    path = folder / f"{name}.part"
    parts.append(path)
    return path


def back_up_sqlite():
    source_path = url.database or ""
    if not os.path.isfile(source_path):
        raise CopyFailed(f"there is no SQLite database at {source_path or '(memory)'}")
    target_path = part(f"lkapp-{stamp}.sqlite3")
    # Read-only: a wrong path fails here instead of creating an empty database.
    source = sqlite3.connect(f"file:{quote(source_path)}?mode=ro", uri=True)
    target = sqlite3.connect(target_path)
    try:
        with target:
            source.backup(target)
        check = target.execute("PRAGMA integrity_check").fetchone()[0]
        tables = {row[0] for row in target.execute("SELECT name FROM sqlite_master")}
    finally:
        target.close()
        source.close()
    if check != "ok" or "users" not in tables:
        raise CopyFailed(f"the copy failed its check ({check}; tables: {len(tables)})")


def back_up_postgresql():
    target_path = part(f"lkapp-{stamp}.dump")
    # The password goes in the environment: a command line is visible to every local user.
    env = dict(os.environ, PGPASSWORD=url.password or "")
    plain = url.set(drivername="postgresql", password=None)
    subprocess.run(
        ["pg_dump", "--format=custom", f"--file={target_path}",
         plain.render_as_string(hide_password=False)],
        env=env,
        check=True,
    )  # fmt: skip
    subprocess.run(["pg_restore", "--list", target_path], check=True, stdout=subprocess.DEVNULL)


try:
    if url.get_backend_name() == "sqlite":
        back_up_sqlite()
    else:
        back_up_postgresql()
    attachments = Path(app.instance_path) / ATTACHMENTS
    # An archive every time, of an empty folder before the first file is attached: a restore
    # (README, step 7) replaces the folder with it, files attached after the backup and all.
    with tarfile.open(part(f"lkapp-{stamp}-attachments.tar.gz"), "w:gz") as tar:
        if attachments.is_dir():
            tar.add(attachments, arcname=ATTACHMENTS)
        else:
            folder_entry = tarfile.TarInfo(ATTACHMENTS)
            folder_entry.type, folder_entry.mode = tarfile.DIRTYPE, 0o700
            folder_entry.mtime = int(datetime.now(UTC).timestamp())
            tar.addfile(folder_entry)
except (CopyFailed, OSError, sqlite3.Error, tarfile.TarError) as error:
    for path in parts:
        path.unlink(missing_ok=True)
    fail(str(error))
except subprocess.CalledProcessError as error:
    for path in parts:
        path.unlink(missing_ok=True)
    fail(f"{Path(error.cmd[0]).name} failed (exit {error.returncode})")
for path in reversed(parts):  # the attachments' archive, then the database
    path.rename(path.with_suffix(""))
    print(path.with_suffix(""))
PY
find "$BACKUP_DIR" -name 'lkapp-*' -mtime +14 -delete
