"""Delivery of trigger events to receivers: routing, rendering, retries (pure),
and the senders (HTTP, SMTP). The dispatcher agent wires them to Kafka."""
