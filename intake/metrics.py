"""Prometheus metrics, one registry per application (tests build many apps in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.reports_accepted = Counter(
            "intake_reports_accepted_total", "Reports filed", ["channel"], registry=r
        )
        self.reports_duplicate = Counter(
            "intake_reports_duplicate_total",
            "Retried deliveries answered with the earlier receipt",
            ["channel"],
            registry=r,
        )
        self.followups = Counter(
            "intake_followups_total", "Information added by informants", ["channel"], registry=r
        )
        self.reports_throttled = Counter(
            "intake_reports_throttled_total",
            "Reports refused because one informant filed too many within the hour",
            ["channel"],
            registry=r,
        )
        self.status_lookups = Counter(
            "intake_status_lookups_total", "Query-code lookups", ["result"], registry=r
        )
        self.http_requests = Counter(
            "intake_http_requests_total", "HTTP requests", ["route", "status"], registry=r
        )
        self.http_latency = Histogram(
            "intake_http_request_seconds",
            "HTTP request latency",
            ["route"],
            registry=r,
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        self.channel_events = Counter(
            "intake_channel_events_total",
            "Platform events by outcome (ignored, unsupported, rejected)",
            ["channel", "outcome"],
            registry=r,
        )
        self.jobs = Counter("intake_jobs_total", "Jobs run", ["kind", "outcome"], registry=r)
        self.writer_commits = Gauge(
            "intake_writer_commits", "Commits made by the group-commit writer", registry=r
        )
        self.writer_operations = Gauge(
            "intake_writer_operations", "Operations written by the writer", registry=r
        )
        self.sql_statements = Gauge(
            "intake_sql_statements", "SQL statements this process has sent to the database", registry=r
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
