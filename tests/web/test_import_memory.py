"""An import streams: ten times the rows must not take ten times the memory.

Each import runs in a fresh process (its peak RSS is what an operator sees); 20,000 and
200,000 document rows go into the same SQLite database. What may grow with the rows is the
compact set of key hashes for the duplicate check and the ids of the new documents (tens of
bytes per row); loading the file, or keeping its rows, would cost hundreds.
"""

import json
import os
import subprocess
import sys
import time

import pytest

from .test_import import do_import, ok, write

pytestmark = pytest.mark.sqlite_only

CONTRACTS = 500
SCRIPT = """
import json, resource, sys
from lkapp import create_app
from lkapp.services.billing import run_import


def kib(key):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key):
                return int(line.split()[1])


app = create_app({"TESTING": True, "SECRET_KEY": "memory-test", "MAIL_SERVER": "",
                  "SQLALCHEMY_DATABASE_URI": sys.argv[1]})
with app.app_context():
    try:  # Linux: reset the peak, so that it measures the import alone
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
        before = kib("VmRSS")
    except OSError:
        before = 0
    report = run_import("documents", sys.argv[2])
peak = kib("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"summary": report.summary(), "created": report.created,
                  "errors": report.errors.count, "before_kib": before, "peak_kib": peak}))
"""


def documents_file(tmp_path, name: str, rows: int, prefix: str):
    path = tmp_path / name
    with open(path, "w", encoding="utf-8") as out:
        out.write("contract_number;kind;number;issued_on;period;due_on;net;vat_rate;vat;total\n")
        for i in range(rows):
            month = i // CONTRACTS % 12 + 1
            out.write(
                f"EL-{i % CONTRACTS:05d};invoice;{prefix}{i:08d};2024-{month:02d}-05;"
                f"2024-{month:02d};2024-{month:02d}-20;{(i % 9000 + 100) * 5},00;20;"
                f"{i % 9000 + 100},00;{(i % 9000 + 100) * 6},00\n"
            )
    return path


def run_in_new_process(database_url: str, path) -> dict:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LKAPP_")}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, database_url, str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        env=environment,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_memory_stays_flat_from_20k_to_200k_rows(app, runner, database_url, tmp_path):
    contracts = "number;holder_name;tax_id;address;status\n" + "".join(
        f"EL-{i:05d};Holder {i};{i};Street {i};active\n" for i in range(CONTRACTS)
    )
    ok(do_import(runner, "contracts", write(tmp_path, "c.csv", contracts)), "contracts: 500")
    small = documents_file(tmp_path, "small.csv", 20_000, "S")
    large = documents_file(tmp_path, "large.csv", 200_000, "L")

    started = time.monotonic()
    first = run_in_new_process(database_url, small)
    second = run_in_new_process(database_url, large)
    seconds = time.monotonic() - started

    assert (first["created"], second["created"]) == (20_000, 200_000), (first, second)
    assert first["errors"] == second["errors"] == 0
    growth_mib = (second["peak_kib"] - first["peak_kib"]) / 1024
    per_row = growth_mib * 1024 * 1024 / 180_000
    print(
        f"peak RSS {first['before_kib'] // 1024} -> {first['peak_kib'] // 1024} MiB (20k rows), "
        f"{second['before_kib'] // 1024} -> {second['peak_kib'] // 1024} MiB (200k rows): "
        f"+{growth_mib:.1f} MiB, {per_row:.0f} bytes per extra row; {seconds:.1f} s"
    )
    assert growth_mib < 40, f"memory grew by {growth_mib:.1f} MiB for 180,000 more rows"
