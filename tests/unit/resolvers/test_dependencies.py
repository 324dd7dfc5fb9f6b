"""Service dependencies: upserted, audited, and never allowed to form a cycle."""

from __future__ import annotations

import pytest

from models import AuditEvent, ServiceDependency
from resolvers.dependencies import remove_dependency, set_dependency
from resolvers.deps import Deps
from resolvers.errors import BadUserInput, Conflict, NotFound
from tests.unit.resolvers.conftest import ADMIN, add_service


async def three_services(deps: Deps) -> tuple[int, int, int]:
    a = await add_service(deps, "https://a.example.org", name="A")
    b = await add_service(deps, "https://b.example.org", name="B")
    c = await add_service(deps, "https://c.example.org", name="C")
    return a, b, c


async def edges() -> set[tuple[int, int, bool]]:
    rows = await ServiceDependency.all().values_list("service_id", "depends_on_id", "required")
    return {(s, d, r) for s, d, r in rows}


async def test_setting_a_dependency_stores_it_and_returns_the_dependent_service(deps: Deps) -> None:
    a, b, _ = await three_services(deps)
    service = await set_dependency(deps, a, b, True, ADMIN)

    assert service.id == a
    assert await edges() == {(a, b, True)}
    event = await AuditEvent.get(action="service.dependency_set")
    assert (event.target_id, event.after) == (str(a), {"dependsOnId": b, "required": True})


async def test_setting_it_again_updates_the_required_flag_without_a_second_edge(deps: Deps) -> None:
    a, b, _ = await three_services(deps)
    await set_dependency(deps, a, b, True, ADMIN)
    await set_dependency(deps, a, b, False, ADMIN)
    await set_dependency(deps, a, b, False, ADMIN)

    assert await edges() == {(a, b, False)}
    assert await AuditEvent.filter(action="service.dependency_set").count() == 2  # no-op not audited


async def test_a_dependency_that_closes_a_cycle_is_refused(deps: Deps) -> None:
    a, b, c = await three_services(deps)
    await set_dependency(deps, a, b, True, ADMIN)
    await set_dependency(deps, b, c, False, ADMIN)

    with pytest.raises(Conflict) as caught:
        await set_dependency(deps, c, a, True, ADMIN)

    assert caught.value.extensions == {"code": "CONFLICT", "field": "dependsOnId"}
    assert "C -> A -> B -> C" in caught.value.message
    assert await edges() == {(a, b, True), (b, c, False)}


async def test_a_two_service_cycle_is_refused_too(deps: Deps) -> None:
    a, b, _ = await three_services(deps)
    await set_dependency(deps, a, b, True, ADMIN)

    with pytest.raises(Conflict):
        await set_dependency(deps, b, a, False, ADMIN)


async def test_a_diamond_is_not_a_cycle(deps: Deps) -> None:
    a, b, c = await three_services(deps)
    d = await add_service(deps, "https://d.example.org", name="D")
    for service, depends_on in ((a, b), (a, c), (b, d), (c, d)):
        await set_dependency(deps, service, depends_on, True, ADMIN)

    assert len(await edges()) == 4


async def test_a_service_cannot_depend_on_itself(deps: Deps) -> None:
    a, *_ = await three_services(deps)

    with pytest.raises(BadUserInput) as caught:
        await set_dependency(deps, a, a, True, ADMIN)

    assert caught.value.extensions == {"code": "BAD_USER_INPUT", "field": "dependsOnId"}


@pytest.mark.parametrize("missing", ["serviceId", "dependsOnId"])
async def test_an_unknown_service_is_not_found_on_its_own_field(deps: Deps, missing: str) -> None:
    a, *_ = await three_services(deps)
    args = (999, a) if missing == "serviceId" else (a, 999)

    with pytest.raises(NotFound) as caught:
        await set_dependency(deps, *args, True, ADMIN)
    with pytest.raises(NotFound) as caught_on_remove:
        await remove_dependency(deps, *args, ADMIN)

    assert caught.value.extensions == {"code": "NOT_FOUND", "field": missing}
    assert caught_on_remove.value.extensions == {"code": "NOT_FOUND", "field": missing}


async def test_removing_a_dependency_deletes_the_edge_and_audits_it(deps: Deps) -> None:
    a, b, _ = await three_services(deps)
    await set_dependency(deps, a, b, True, ADMIN)
    service = await remove_dependency(deps, a, b, ADMIN)

    assert service.id == a
    assert await edges() == set()
    event = await AuditEvent.get(action="service.dependency_remove")
    assert event.before == {"dependsOnId": b, "required": True}


async def test_removing_an_absent_dependency_is_not_found(deps: Deps) -> None:
    a, b, _ = await three_services(deps)

    with pytest.raises(NotFound) as caught:
        await remove_dependency(deps, a, b, ADMIN)

    assert caught.value.extensions == {"code": "NOT_FOUND", "field": "dependsOnId"}
