"""Benchmarks, peers, load and attack tooling, outside the product (``.[bench]``)."""
