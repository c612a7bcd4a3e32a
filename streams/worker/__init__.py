"""The detection worker: change events in, trigger events out. One module per
agent; each declares its inputs, its state and the pure rule it applies."""
