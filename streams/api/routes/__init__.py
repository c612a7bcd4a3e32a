"""The API's routes, one module per resource, included by ``streams.api.app`` in this order."""
