"""End-to-end pipelines: stage 1 (``flow_gen``, image -> motion field)."""
