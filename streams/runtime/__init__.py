"""The shell every Faust process shares: the app factory, the Pipeline and its
Publisher, the agent skeletons, continuity (the offset ledger), the control
topic protocol, state access and the one Kafka connection config."""
