"""Client side of the pipeline: publishing change events and subscriptions
(``producer``), building events from documents (``documents``) and following
the trigger events (``follow``)."""
