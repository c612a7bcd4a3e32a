"""Development tools, apart from the runtime: the dev Kafka broker (from Maven
jars), the CDP simulator, the demo, and the helpers that run a worker as a
process for tests and benchmarks. Nothing in ``streams`` imports these but
the CLI, which offers them as commands when they are installed."""
