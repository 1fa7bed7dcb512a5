"""Fuzzed ``Drizzle.add_image`` cases on the CPU backend and the emulator (short profile; issue 13).

The long run is ``python benchmarks/fuzz.py --examples 20000``; both use
:mod:`fuzz_cases`.  Derandomized: CI sees the same few hundred cases on
every run, so a failure here is reproducible with the printed example.
"""

from fuzz_cases import cases, check_case
from hypothesis import HealthCheck, given, settings


@settings(max_examples=300, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(cases())
def test_drizzle_add_image_fuzz(case):
    check_case(case)
