"""A small closed-loop HTTP load driver: N threads, each with its own connection, sending the
same request again and again for a fixed time (or its bodies in turn). Standard library only,
so it runs anywhere.

gunicorn's sync workers close the connection after every response; ``http.client`` then opens
a new one for the next request, as a browser would. Latency is measured per request, from
sending to having read the whole body.
"""

from __future__ import annotations

import http.client
import itertools
import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict = field(default_factory=dict)
    body: bytes | None = None
    # Bodies to send in turn instead of ``body``, across all connections: a form that must
    # differ from the one before (the same readings again are stored once).
    bodies: tuple[bytes, ...] = ()


@dataclass
class Result:
    requests: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds
    statuses: Counter = field(default_factory=Counter)
    sql_counts: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)  # exceptions by type
    body_bytes: int = 0

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        """Nearest-rank percentile of the latencies, in milliseconds."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
        return ordered[rank] * 1000

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies) * 1000 if self.latencies else float("nan")

    @property
    def p99(self) -> float:
        return self.percentile(99)

    @property
    def sql(self) -> int | None:
        """The most frequent statement count (requests of one scenario all run the same)."""
        return self.sql_counts.most_common(1)[0][0] if self.sql_counts else None

    @property
    def sql_max(self) -> int | None:
        return max(self.sql_counts) if self.sql_counts else None


def send(conn: http.client.HTTPConnection, request: Request, turn: int = 0):
    """One request on ``conn`` (the ``turn``-th, for a request of several bodies); returns
    (status, headers, body)."""
    body = request.bodies[turn % len(request.bodies)] if request.bodies else request.body
    conn.request(request.method, request.path, body=body, headers=request.headers)
    response = conn.getresponse()
    body = response.read()
    return response.status, response.headers, body


def run(
    host: str,
    port: int,
    request: Request,
    *,
    connections: int = 16,
    seconds: float = 6.0,
    warmup: float = 1.0,
    timeout: float = 120.0,
) -> Result:
    """Keep ``connections`` requests in flight for ``warmup + seconds``; measure the requests
    that complete in the last ``seconds``."""
    result = Result()
    lock = threading.Lock()
    turns = itertools.count()  # next() is atomic: each request its own turn
    start = time.perf_counter()
    measure_from = start + warmup
    stop_at = measure_from + seconds

    def worker():
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        latencies, statuses, sqls, errors, size = [], Counter(), Counter(), Counter(), 0
        while True:
            began = time.perf_counter()
            if began >= stop_at:
                break
            try:
                status, headers, body = send(conn, request, next(turns))
            except (OSError, http.client.HTTPException) as error:
                conn.close()
                if measure_from <= time.perf_counter() <= stop_at:
                    errors[type(error).__name__] += 1
                continue
            ended = time.perf_counter()
            # Requests that complete inside the measured interval (a slow page's requests
            # started during the warm-up count too, or a short interval would miss them).
            if measure_from <= ended <= stop_at:
                latencies.append(ended - began)
                statuses[status] += 1
                count = headers.get("X-SQL-Count")
                if count is not None:
                    sqls[int(count)] += 1
                size += len(body)
        conn.close()
        with lock:
            result.latencies.extend(latencies)
            result.statuses.update(statuses)
            result.sql_counts.update(sqls)
            result.errors.update(errors)
            result.body_bytes += size

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.requests = len(result.latencies)
    result.seconds = seconds
    return result


def run_each(host: str, port: int, requests: list[Request], timeout: float = 120.0) -> Result:
    """Each request once, one after another on one connection (first renders)."""
    result = Result()
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    began_all = time.perf_counter()
    for request in requests:
        began = time.perf_counter()
        try:
            status, headers, body = send(conn, request)
        except (OSError, http.client.HTTPException) as error:
            conn.close()
            result.errors[type(error).__name__] += 1
            continue
        result.latencies.append(time.perf_counter() - began)
        result.statuses[status] += 1
        count = headers.get("X-SQL-Count")
        if count is not None:
            result.sql_counts[int(count)] += 1
        result.body_bytes += len(body)
    conn.close()
    result.requests = len(result.latencies)
    result.seconds = time.perf_counter() - began_all
    return result
