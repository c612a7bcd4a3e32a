"""The Kafka kit: connections and clients, topic administration, the wire codec, compacted views, the control
commands' format, the Schema Registry client, the egress policy and the health watch. Nothing here imports
Faust: the API, the CLI and the client library use this package alone; the engine (``streams.runtime``) builds
on it."""
