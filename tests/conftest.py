"""Hypothesis profiles for the property tests.

* ``ci`` (the default): no deadline (Scapy's first import and a cold cache make
  single examples slow now and then) and few enough examples that the property
  files run in well under a minute on two cores;
* ``dev``: more examples, for a thorough run before a release
  (``HYPOTHESIS_PROFILE=dev pytest tests/wire/test_views.py tests/devices/test_bridge.py
  tests/stack/test_fib.py tests/devices/test_malformed.py``);
* ``debug``: a handful of examples with verbose output.
"""
import os

from hypothesis import HealthCheck, settings, Verbosity

settings.register_profile(
    "ci", deadline=None, max_examples=50, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "dev", deadline=None, max_examples=500, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("debug", deadline=None, max_examples=10, verbosity=Verbosity.verbose)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
