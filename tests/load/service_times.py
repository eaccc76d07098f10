"""In-process service time of the bench's HTML pages: one request at a time through the Flask
test client, the fastest of ``REPEAT`` (the run least disturbed by the rest of the machine).
The pages take turns, a request each per round, so that a burst of other work on the machine
falls on one sample of every page rather than on all the samples of one.
Unlike the throughput under load, this figure hardly moves from run to run, so it is the steady
evidence of the size comparison.

    python -m tests.load.service_times EL-0000002   (in the bench's LKAPP_* environment)

Prints JSON, ``{page name: [milliseconds, bytes]}``. The bench runs it on each database; the
sign-in it makes is undone with the bench's other writes.
"""

from __future__ import annotations

import json
import sys
import time

from lkapp import create_app

from .bench import CUSTOMER_EMAIL, CUSTOMER_PASSWORD, html_pages

REPEAT = 15


def main(contract: str) -> None:
    app = create_app()  # configured from the environment, as the bench's gunicorn is
    app.config["WTF_CSRF_ENABLED"] = False  # read per request: the sign-in below needs none
    anonymous, customer = app.test_client(), app.test_client()
    answer = customer.post("/login", data={"email": CUSTOMER_EMAIL, "password": CUSTOMER_PASSWORD})
    if answer.status_code != 302:
        raise SystemExit(f"signing in as the demo customer failed ({answer.status_code})")
    pages = html_pages(contract)
    best = {name: float("inf") for name, *_ in pages}
    sizes = {}
    for _ in range(REPEAT):
        for name, path, signed, htmx in pages:
            client = customer if signed else anonymous
            headers = {"HX-Request": "true"} if htmx else {}
            began = time.perf_counter()
            response = client.get(path, headers=headers)
            best[name] = min(best[name], time.perf_counter() - began)
            if response.status_code != 200:
                raise SystemExit(f"{path}: {response.status_code}")
            sizes[name] = len(response.data)
    times = {name: [round(best[name] * 1000, 2), sizes[name]] for name in best}
    print(json.dumps(times))


if __name__ == "__main__":
    main(sys.argv[1])
