"""Benchmarks: hop rate against a Scapy-per-hop baseline, cluster scale, BGP scale and what
an observer costs.

Run with ``emunet bench hop-rate``, ``emunet bench scale``, ``emunet bench trace-cost`` and
``emunet bgp-scale``; figures are printed, never asserted in tests.
"""
