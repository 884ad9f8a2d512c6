"""Prometheus metrics of one hub: names are part of the interface (docs/operations.md).

Each hub has its own registry, so several hubs can live in one process (the demo, tests).
Label values are bounded: peers come from the configuration, types from the schema registry,
reasons from the fixed list in hub.verify.REASONS.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from . import __version__

from . import events as ev


class HubMetrics:
    """Counts every outcome; is an observer of the hub's events."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.submitted = Counter("porthub_messages_submitted_total",
                                 "Messages queued in the outbox.", ["peer", "type"], registry=r)
        self.sent = Counter("porthub_messages_sent_total",
                            "Messages written to a peer's broker for the first time.", ["peer"],
                            registry=r)
        self.retried = Counter("porthub_messages_retried_total",
                               "Messages written again (no receipt in time, or refused).",
                               ["peer"], registry=r)
        self.delivered = Counter("porthub_messages_delivered_total",
                                 "Outgoing messages receipted as accepted by the recipient.",
                                 ["peer"], registry=r)
        self.rejected = Counter("porthub_messages_rejected_total",
                                "Outgoing messages the recipient rejected, by reason.",
                                ["peer", "reason"], registry=r)
        self.expired = Counter("porthub_messages_expired_total",
                               "Outgoing messages that expired without a receipt.", ["peer"],
                               registry=r)
        self.received = Counter("porthub_messages_received_total",
                                "Inbound messages that passed every check.", ["peer", "type"],
                                registry=r)
        self.refused = Counter("porthub_inbound_rejected_total",
                               "Inbound messages that failed a receive check, by reason.",
                               ["reason"], registry=r)
        self.handed_over = Counter("porthub_messages_handed_over_total",
                                   "Inbound messages given to a local system.", ["type"],
                                   registry=r)
        self.dead_lettered = Counter("porthub_messages_dead_lettered_total",
                                     "Messages given up for good.", ["direction"], registry=r)
        self.adapter_errors = Counter("porthub_adapter_errors_total",
                                      "Adapter failures, by adapter, side and kind.",
                                      ["adapter", "side", "kind"], registry=r)
        self.latency = Histogram("porthub_delivery_latency_seconds",
                                 "From submit to the recipient's accepting receipt.", ["peer"],
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
                                          10, 30, 60, 300, 900, 3600, 21600, 86400),
                                 registry=r)
        self.outbox_depth = Gauge("porthub_outbox_messages",
                                  "Outgoing messages waiting for a receipt (queued or sent).",
                                  ["peer", "state"], registry=r)
        self.oldest_pending = Gauge("porthub_outbox_oldest_age_seconds",
                                    "Age of the oldest outgoing message without a receipt.",
                                    ["peer"], registry=r)
        self.cert_expiry = Gauge("porthub_certificate_expiry_timestamp_seconds",
                                 "When this hub's own certificate expires (Unix time).",
                                 registry=r)
        self.crl_refresh_failures = Counter(
            "porthub_crl_refresh_failures_total",
            "Timed re-reads of the CRL file that failed; the last good CRL stays in use.",
            registry=r)
        self.build = Info("porthub_build", "The porthub version.", registry=r)
        self.build.info({"version": __version__})
        self.peer_up = Gauge("porthub_peer_up",
                             "1 while the connection to the peer's inbox is up.", ["peer"],
                             registry=r)
        self.inbox_up = Gauge("porthub_inbox_connected",
                              "1 while the hub's own inbox is connected.", registry=r)

    def on_event(self, event: ev.Event) -> None:
        kind, peer = event.kind, event.peer or ""
        if kind == ev.SUBMITTED:
            self.submitted.labels(peer, event.type or "").inc()
        elif kind == ev.SENT:
            self.sent.labels(peer).inc()
        elif kind == ev.RETRIED:
            self.retried.labels(peer).inc()
        elif kind == ev.DELIVERED:
            self.delivered.labels(peer).inc()
            if "latency" in event.detail:
                self.latency.labels(peer).observe(max(0.0, event.detail["latency"]))
        elif kind == ev.REJECTED:
            self.rejected.labels(peer, event.reason or "").inc()
        elif kind == ev.EXPIRED:
            self.expired.labels(peer).inc()
        elif kind == ev.RECEIVED:
            self.received.labels(peer, event.type or "").inc()
        elif kind in (ev.REFUSED, ev.DUPLICATE):
            self.refused.labels(event.reason or "duplicate").inc()
        elif kind == ev.HANDED_OVER:
            self.handed_over.labels(event.type or "").inc()
        elif kind == ev.DEAD_LETTERED:
            self.dead_lettered.labels(event.detail.get("direction", "in")).inc()
        elif kind in (ev.LINK_UP, ev.LINK_DOWN):
            value = 1 if kind == ev.LINK_UP else 0
            if event.peer is None:
                self.inbox_up.set(value)
            else:
                self.peer_up.labels(peer).set(value)

    def set_outbox(self, peers: list[str], depth: dict[tuple[str, str], int],
                   oldest: dict[str, float], now: float) -> None:
        """Refresh the outbox gauges from the store (called before each scrape)."""
        for peer in peers:
            for state in ("queued", "sent"):
                self.outbox_depth.labels(peer, state).set(depth.get((peer, state), 0))
            created = oldest.get(peer)
            self.oldest_pending.labels(peer).set(0 if created is None else now - created)

    def value(self, name: str, **labels: str) -> float:
        """Current value of a sample (for tests and the demo summary)."""
        return self.registry.get_sample_value(name, labels or None) or 0.0
