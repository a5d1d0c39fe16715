"""Benchmarks: hop rate against a Scapy-per-hop baseline, and cluster scale.

Run with ``emunet bench hop-rate`` and ``emunet bench scale``; figures are
printed, never asserted in tests.
"""
