"""Simulation of online policies under the model of ``specs/kv-scheduling.md``."""
