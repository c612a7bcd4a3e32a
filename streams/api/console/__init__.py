"""The web console at ``/ui/``: pages for the people who own segments and flows, on the API's own store."""
