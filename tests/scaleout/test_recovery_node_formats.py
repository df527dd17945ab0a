"""Recovery on the Node.js formats (``redis_protocol = "socket.io"``, whose socketsvc nodes keep
socketsvc's recovery stream, and ``"socket.io-streams"``, which keeps Node's stream and session
keys): two socketsvc nodes on one redis-server, the client recovering on the other node. The
tests of test_recovery_contract.py and test_recovery_faults.py that hold for any backend run
here again, so the atomic claim, the holder checks and the targeted takeover are pinned on
these formats too (their claim, replay and takeover messages are their own)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.recovering import (
    Cluster,
    MakeCluster,
    Member,
    member_fixture,  # noqa: F401 - a fixture
)
from tests.scaleout import test_recovery_faults as faults
from tests.scaleout.test_recovery_contract import (  # noqa: F401 - run here again
    test_a_connection_lost_by_ping_timeout_is_kept,
    test_a_kept_session_lasts_its_window_and_no_longer,
    test_a_pid_restores_a_session_of_its_own_namespace_only,
    test_a_retried_chat_message_is_sent_once_wherever_the_retry_lands,
    test_a_session_is_claimed_once_and_a_second_claim_takes_it_over,
    test_what_another_namespace_sent_meanwhile_is_not_replayed,
)
from tests.scaleout.test_recovery_faults import (  # noqa: F401 - run here again
    test_a_claim_that_meets_the_old_node_keeping_the_session_is_recovered,
    test_a_reconnect_that_claims_before_the_old_node_keeps_the_session_is_recovered,
    test_a_takeover_of_a_connection_still_closing_leaves_the_new_one_alone,
    test_a_takeover_that_comes_late_drops_only_the_connection_it_took_over,
    test_what_is_sent_during_a_restore_comes_after_what_was_missed,
)


@pytest.fixture(name="make_cluster", params=["socket.io", "socket.io-streams"])
def make_cluster_fixture(request: pytest.FixtureRequest, start_server: Any) -> MakeCluster:
    """Two nodes on one redis-server speaking one of the Node formats."""
    redis = {
        "manager": "redis",
        "redis_protocol": request.param,
        "redis_url": request.getfixturevalue("redis_url"),
        "redis_prefix": request.getfixturevalue("redis_prefix"),
    }

    async def make(**settings: Any) -> Cluster:
        return Cluster([await start_server(**redis, **settings) for _ in range(2)])

    return make


@pytest.fixture
async def cluster(make_cluster: MakeCluster) -> Cluster:
    return await make_cluster()


@pytest.mark.parametrize("point", faults.RESTORE_POINTS)
@pytest.mark.parametrize("order", ["resume_first", "reconnect_first"])
async def test_a_client_that_drops_during_its_restore_is_recovered_on_the_other_node(
    cluster: Cluster, member: Member, point: str, order: str
) -> None:
    """As in test_recovery_faults.py: it drops at ``point`` of its restore and reconnects to
    the node it came from, before or after the restoring node's flow goes on."""
    await faults.test_a_client_that_drops_during_its_restore_is_recovered_wherever_it_returns(
        cluster, member, point, order, "other"
    )
