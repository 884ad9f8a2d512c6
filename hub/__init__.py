"""porthub core: signed envelopes, the durable store, routing, receipts and transports."""

__version__ = "0.1.0"
