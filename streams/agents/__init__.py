"""Faust agents: one module per domain. They move data between topics, tables
and the pure core in ``streams.core``; no detection logic lives here."""
