"""A process's exit codes, the same for every command, so a supervisor can tell them apart."""

EXIT_OK = 0
EXIT_FAILED = 1  # the operation failed (Kafka unreachable too)
EXIT_CONFIG = 2  # bad configuration or usage (security settings Kafka refused too)
EXIT_STALLED = 3  # the process stopped itself: a bounded wait ran out, or its loop or commits stopped moving
# `broker status` exits 3 when the dev broker does not answer, as an init script's status does (LSB).
