"""The in-process perspectives of tests/ca/mpic, for enrollment under corroboration."""

from tests.ca.mpic.conftest import dns_views, fleet  # noqa: F401
