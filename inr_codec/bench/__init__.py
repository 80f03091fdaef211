"""Benchmarks: traditional-codec anchors through PyAV, INR rate-distortion points, BD-rate, plots."""
