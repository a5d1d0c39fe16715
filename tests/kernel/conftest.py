"""The kernel tests need root and network namespaces; without them they are skipped, and
the skip message says exactly why (never a silent pass)."""
import pytest

from tests.kernel.harness import availability


@pytest.fixture(scope="session")
def netns():
    reason = availability()
    if reason:
        pytest.skip(f"kernel comparison skipped: {reason}")
    return True
