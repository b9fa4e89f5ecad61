"""A running server follows its build folder's ``current`` link: a release published beside it
(by ``mildip build``, or by a write answered by another server process) is served from the next
request on; a release that cannot be served is skipped, and the last good one stays served."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyoxigraph as ox
import pytest

from mildip_ld.release.build import BuildReport, _switch_current, current_release
from mildip_ld.release.store import STORE_DIR
from tests.live_server import LiveServer, build_dir_of, serve

MARK = ox.Quad(
    ox.NamedNode("https://example.org/follow-test"),
    ox.NamedNode("https://example.org/p"),
    ox.Literal("published beside the server"),
    ox.NamedNode("https://example.org/follow-graph"),
)
ASK_MARK = 'ASK { <https://example.org/follow-test> <https://example.org/p> "published beside the server" }'


@pytest.fixture(scope="module")
def follower(built: BuildReport, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A default server (response cache on) on a copy of the build that the tests publish into."""
    copy = tmp_path_factory.mktemp("follow") / "build"
    shutil.copytree(build_dir_of(built), copy, symlinks=True)
    yield from serve(copy, copy.parent / "follow.log")


def _publish_copy(build_dir: Path, name: str, change) -> Path:
    """Publish a copy of the current release, changed by ``change(staging)``, as release ``name``."""
    current = current_release(build_dir)
    assert current is not None
    staging = build_dir / f".staging-{name}"
    shutil.copytree(current, staging)
    change(staging)
    return _switch_current(build_dir, staging)


def _add_mark(staging: Path) -> None:
    store = ox.Store(str(staging / STORE_DIR))
    store.add(MARK)
    store.flush()
    del store


def _ask(server: LiveServer) -> httpx.Response:
    return httpx.get(
        server.sparql,
        params={"query": ASK_MARK},
        headers={"Accept": "application/sparql-results+json"},
        timeout=30,
    )


def test_a_release_published_beside_the_server_is_served_at_the_next_request(follower: LiveServer) -> None:
    before = _ask(follower)
    assert before.status_code == 200 and before.json()["boolean"] is False
    assert _ask(follower).headers.get("x-mildip-cache") == "hit"  # the cache holds the old answer

    release = _publish_copy(follower.build_dir, "29990101T000000000000Z", _add_mark)

    after = _ask(follower)
    assert after.status_code == 200 and after.json()["boolean"] is True
    assert after.headers.get("x-mildip-cache") == "miss"  # the old release's answers are gone
    assert httpx.get(f"{follower.url}/health", timeout=10).json()["release"] == release.name


def test_a_release_that_cannot_be_served_is_skipped(follower: LiveServer) -> None:
    served = httpx.get(f"{follower.url}/health", timeout=10).json()["release"]

    _publish_copy(
        follower.build_dir, "29990102T000000000000Z", lambda staging: shutil.rmtree(staging / STORE_DIR)
    )

    assert _ask(follower).status_code == 200
    health = httpx.get(f"{follower.url}/health", timeout=10).json()
    assert health["release"] == served and health["status"] == "ok"
    log = (follower.build_dir.parent / "follow.log").read_text()
    assert "cannot serve the new current release 29990102T000000000000Z" in log
