"""``GET /metrics`` for Prometheus: the line as the database sees it, and this process.

The queue, the clinicians available, the timers and the registrations lapsing are read
from the database at scrape time (a few COUNTs), so every process reports the same
values. Webhook latency, HTTP requests and open socket connections are counted by the
process that served them: with several processes, scrape each one and sum those.

Who may read: with ``METRICS_TOKEN`` set, whoever sends ``Authorization: Bearer <token>``
(and no one else); without it, only direct requests from this machine's loopback (a
request a proxy forwarded, with ``X-Forwarded-For`` or ``Forwarded``, is refused).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

import redis
from flask import Blueprint, Flask, Response, abort, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from advice_line import health
from advice_line.clock import utcnow
from advice_line.extensions import db
from advice_line.lifecycle.coverage import KINDS, coverage
from advice_line.lifecycle.policy import RoutingPolicy
from advice_line.lifecycle.registrations import lapse_warnings
from advice_line.routing import views
from advice_line.routing.scheduler import last_tick, timer_backlog
from advice_line.spool import Spool, spool_of
from advice_line.telephony import outbox
from advice_line.transaction import current_policy

bp = Blueprint("metrics", __name__)
log = logging.getLogger(__name__)
_EXTENSION = "advice_line_metrics"
_FORWARDED_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")
_STARTED = "advice_line.metrics_started"  # in the environ: nested requests share flask.g
# Twilio gives up on a webhook after 15 seconds.
WEBHOOK_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0)
#: The rota's coverage over the coming hours and the registrations lapsing change by the
#: hour and the day, and take several queries: each process reads them at most this often
#: (seconds, monotonic clock), however often it is scraped.
SLOW_READ_SECONDS = 60.0


@dataclass(frozen=True)
class ProcessMetrics:
    """What this process counts itself, in the app's own registry."""

    registry: CollectorRegistry
    webhook_seconds: Histogram
    http_requests: Counter
    consoles: Gauge
    signed_with_previous_token: Counter
    line: LineCollector


@dataclass(frozen=True)
class SlowFigures:
    """What the line's collector reads at most once every ``SLOW_READ_SECONDS``."""

    lapsing: int
    lapsed: int
    uncovered_hours: dict[str, float]


class LineCollector(Collector):
    """The line's state now, read from the database when Prometheus scrapes.

    Coverage and registration lapses are kept for ``SLOW_READ_SECONDS`` (``clock`` is
    monotonic time; tests move it); everything else is read on every scrape.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._slow: tuple[float, SlowFigures] | None = None

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """Name the metrics without reading the database."""
        yield from self._families()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """Read the queue, the clinicians, the timers, the outbox and the schedulers."""
        families = self._families()
        up = families[0]
        try:
            now, policy, session = utcnow(), current_policy(), db.session()
            board = views.board(session, now, policy)
            due, oldest_due = timer_backlog(session, now)
            on_duty = views.count_on_duty(session, now=now, policy=policy)
            outbox_due, outbox_oldest, outbox_failed = outbox.backlog(session, now)
            ticked = last_tick(session)
            slow = self._slow_figures(session, now, policy)
        except SQLAlchemyError as error:
            log.warning("metrics could not read the database: %s", type(error).__name__)
            up.add_metric([], 0)
            yield up
            return
        finally:
            db.session.rollback()
        up.add_metric([], 1)
        values = (
            board["waiting"],
            board["longest_wait_seconds"] or 0,
            policy.answer_target.total_seconds(),
            board["available"],
            board["breaches_now"],
            due,
            (now - oldest_due).total_seconds() if oldest_due else 0,
            on_duty,
            outbox_due,
            (now - outbox_oldest).total_seconds() if outbox_oldest else 0,
            outbox_failed,
            (now - ticked).total_seconds() if ticked else None,
            slow.lapsing,
            slow.lapsed,
        )
        for family, value in zip(families[1:-1], values, strict=True):
            if value is not None:  # no scheduler has ever ticked: no sample
                family.add_metric([], value)
        for kind, hours in slow.uncovered_hours.items():
            families[-1].add_metric([kind], hours)
        yield from families

    def _slow_figures(self, session: Session, now: datetime, policy: RoutingPolicy) -> SlowFigures:
        """Coverage and lapses: as read within the last ``SLOW_READ_SECONDS``, else read now."""
        read_at = self.clock()
        if self._slow is not None and read_at - self._slow[0] < SLOW_READ_SECONDS:
            return self._slow[1]
        hours = current_app.config["COVERAGE_WARNING_HOURS"]
        rota = coverage(session, now=now, hours=hours, policy=policy)
        lapses = lapse_warnings(session, now=now, policy=policy)
        figures = SlowFigures(
            lapsing=sum(not w.lapsed for w in lapses),
            lapsed=sum(w.lapsed for w in lapses),
            uncovered_hours={kind: rota.hours_uncovered(kind) for kind in KINDS},
        )
        self._slow = (read_at, figures)
        return figures

    @staticmethod
    def _families() -> list[GaugeMetricFamily]:
        return [
            GaugeMetricFamily("advice_line_database_up", "1 if the database answered the scrape"),
            GaugeMetricFamily(
                "advice_line_queue_length", "Requests waiting for a clinician (queued or offered)"
            ),
            GaugeMetricFamily(
                "advice_line_longest_wait_seconds",
                "How long the longest waiting request has waited",
            ),
            GaugeMetricFamily(
                "advice_line_answer_target_seconds",
                "The answer target (ANSWER_TARGET_SECONDS): a wait longer than this is a breach",
            ),
            GaugeMetricFamily(
                "advice_line_clinicians_available",
                "Qualifying clinicians on shift and available to take an offer",
            ),
            GaugeMetricFamily(
                "advice_line_waiting_past_answer_target", "Waiting requests past the answer target"
            ),
            GaugeMetricFamily("advice_line_timers_due", "Timers due and not yet fired"),
            GaugeMetricFamily(
                "advice_line_timers_overdue_seconds",
                "How long ago the oldest unfired timer fell due (the scheduler's lag)",
            ),
            GaugeMetricFamily(
                "advice_line_clinicians_on_duty",
                "Qualifying clinicians on shift and signed in, available or busy",
            ),
            GaugeMetricFamily(
                "advice_line_outbox_due", "Calls and messages due to be placed and not yet placed"
            ),
            GaugeMetricFamily(
                "advice_line_outbox_oldest_due_seconds",
                "How long ago the oldest call or message not yet placed fell due",
            ),
            GaugeMetricFamily(
                "advice_line_outbox_failed",
                "Calls and messages the line gave up placing (kept until retention removes them)",
            ),
            GaugeMetricFamily(
                "advice_line_scheduler_last_tick_seconds",
                "How long ago any scheduler last finished a tick (noted every 5 seconds)",
            ),
            GaugeMetricFamily(
                "advice_line_registrations_lapsing",
                "Active clinicians whose registration lapses within REGISTRATION_WARNING_DAYS",
            ),
            GaugeMetricFamily(
                "advice_line_registrations_lapsed",
                "Active clinicians whose registration has lapsed (they are offered nothing)",
            ),
            GaugeMetricFamily(
                "advice_line_coverage_gap_hours",
                "Hours within COVERAGE_WARNING_HOURS with no qualifying clinician on shift "
                '(skill="any") or none with the skill',
                labels=["skill"],
            ),
        ]


class SpoolCollector(Collector):
    """This host's spool (webhooks kept while the database was down), read at scrape time."""

    def __init__(self, spool: Spool) -> None:
        self.spool = spool

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """Name the metrics without reading the spool."""
        yield from self._families()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """Count what waits and what is held aside; never the contents."""
        families = self._families()
        try:
            depth = self.spool.depth()
        except (sqlite3.Error, OSError) as error:
            log.warning("metrics could not read the spool: %s", type(error).__name__)
            return
        oldest = (utcnow() - depth.oldest).total_seconds() if depth.oldest else 0
        for family, value in zip(families, (depth.waiting, depth.held, oldest), strict=True):
            family.add_metric([], value)
        yield from families

    @staticmethod
    def _families() -> list[GaugeMetricFamily]:
        return [
            GaugeMetricFamily(
                "advice_line_spool_waiting",
                "Webhooks kept in this host's spool, waiting for the database",
            ),
            GaugeMetricFamily(
                "advice_line_spool_held",
                "Spooled webhooks held aside after failing repeatedly (need a person)",
            ),
            GaugeMetricFamily(
                "advice_line_spool_oldest_seconds",
                "How long the oldest waiting spooled webhook has waited",
            ),
        ]


class RedisCollector(Collector):
    """Whether Redis (the socket message queue, the rate limits) answers a ping."""

    def __init__(self, url: str) -> None:
        self.url = url

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """Name the metric without pinging."""
        yield self._family()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """Ping Redis (one second at most)."""
        family = self._family()
        try:
            health.redis_client(self.url).ping()
        except (redis.RedisError, OSError) as error:
            log.warning("metrics could not reach Redis: %s", type(error).__name__)
            family.add_metric([], 0)
        else:
            family.add_metric([], 1)
        yield family

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily("advice_line_redis_up", "1 if Redis answered the scrape's ping")


def _metrics() -> ProcessMetrics:
    found: ProcessMetrics = current_app.extensions[_EXTENSION]
    return found


def console_connected() -> None:
    """Count a socket connection this process accepted."""
    _metrics().consoles.inc()


def webhook_signed_with_previous_token() -> None:
    """Count a webhook accepted under ``TWILIO_AUTH_TOKEN_PREVIOUS`` (a rotation's old token)."""
    _metrics().signed_with_previous_token.inc()


def console_disconnected() -> None:
    """Count a socket connection of this process that closed."""
    _metrics().consoles.dec()


def _start_timer() -> None:
    request.environ[_STARTED] = time.perf_counter()


def _observe(response: Response) -> Response:
    metrics = _metrics()
    metrics.http_requests.labels(status=str(response.status_code)).inc()
    if request.blueprint == "twilio" and request.endpoint:
        elapsed = time.perf_counter() - request.environ[_STARTED]
        metrics.webhook_seconds.labels(endpoint=request.endpoint).observe(elapsed)
    return response


def _from_loopback_directly() -> bool:
    if any(header in request.headers for header in _FORWARDED_HEADERS):
        return False
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


@bp.get("/metrics")
def scrape() -> Response:
    """Prometheus's text format, for a bearer of the token or a local scraper."""
    token = current_app.config["METRICS_TOKEN"]
    if token:
        offered = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(offered, f"Bearer {token}".encode()):
            return Response("A bearer token is required.\n", 401, {"WWW-Authenticate": "Bearer"})
    elif not _from_loopback_directly():
        abort(403)
    return Response(generate_latest(_metrics().registry), content_type=CONTENT_TYPE_LATEST)


def init_metrics(app: Flask) -> None:
    """Give the app its registry, the request hooks and ``GET /metrics``."""
    registry = CollectorRegistry()
    line = LineCollector()
    registry.register(line)
    registry.register(SpoolCollector(spool_of(app)))
    if app.config["REDIS_URL"]:
        registry.register(RedisCollector(app.config["REDIS_URL"]))
    app.extensions[_EXTENSION] = ProcessMetrics(
        registry=registry,
        webhook_seconds=Histogram(
            "advice_line_webhook_duration_seconds",
            "Time this process took to answer a Twilio webhook, by endpoint",
            ["endpoint"],
            buckets=WEBHOOK_BUCKETS,
            registry=registry,
        ),
        http_requests=Counter(
            "advice_line_http_requests",
            "HTTP requests this process answered, by status",
            ["status"],
            registry=registry,
        ),
        consoles=Gauge(
            "advice_line_consoles_connected",
            "Socket connections (consoles and live boards) open on this process",
            registry=registry,
        ),
        signed_with_previous_token=Counter(
            "advice_line_webhooks_signed_with_previous_token",
            "Twilio webhooks this process accepted signed with TWILIO_AUTH_TOKEN_PREVIOUS",
            registry=registry,
        ),
        line=line,
    )
    app.before_request(_start_timer)
    app.after_request(_observe)
    app.register_blueprint(bp)
