"""The triggers API: an HTTP service that automation tools drive themselves."""
