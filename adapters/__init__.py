"""Pluggable adapters between a port hub and the port's own systems."""
