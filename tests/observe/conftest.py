"""The fixture the show tests share (the others are builders in tests/observe/showlab.py)."""
import pytest

from emunet.scenarios import docker_bridge


@pytest.fixture(scope="module")
def docker_lab():
    """The docker-bridge scenario (seed 1) run to its end, for the show tests."""
    return docker_bridge.build(seed=1, capture=False).run()
