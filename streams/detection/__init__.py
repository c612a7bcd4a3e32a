"""The functional core: detection rules over plain values, no Kafka, no I/O.

Every function here takes the previous state of one entity and one input and
returns the new state and what to emit. States are immutable and round-trip
through ``to_dict``/``from_dict`` for the Faust tables.
"""
