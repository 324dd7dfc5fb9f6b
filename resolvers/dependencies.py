"""setServiceDependency / removeServiceDependency: which service needs which, kept acyclic.

A dependency graph with a cycle has no sensible answer to "what breaks if this goes down", and
a cycle of required dependencies could never be deleted (each blocks the other), so a new edge
that would close one is refused with CONFLICT. Both services' rows are locked, in id order, while
an edge is checked and written: concurrent edits of the same pair (including the two halves of a
two-service cycle) then run one after the other. Longer cycles closed by concurrent edits of
different pairs are not guarded; these are rare admin actions.
"""

from __future__ import annotations

from tortoise.transactions import in_transaction

from models import Service, ServiceDependency
from resolvers.audit import Actor, record_audit
from resolvers.deps import Deps
from resolvers.errors import BadUserInput, Conflict, NotFound
from resolvers.services import get_service


async def _pair(service_id: int, depends_on_id: int) -> tuple[Service, Service]:
    service = await get_service(service_id, field="serviceId")
    depends_on = await get_service(depends_on_id, field="dependsOnId")
    return service, depends_on


async def _lock(*service_ids: int) -> None:
    """Lock the rows in id order, so two transactions never wait on each other crosswise."""
    for service_id in sorted(set(service_ids)):
        await Service.select_for_update().filter(id=service_id).first()


async def dependency_path(start: int, goal: int) -> list[int] | None:
    """Service ids from `start` to `goal` following existing dependencies; None when unreachable."""
    edges: dict[int, list[int]] = {}
    for source, target in await ServiceDependency.all().values_list("service_id", "depends_on_id"):
        edges.setdefault(source, []).append(target)
    came_from: dict[int, int | None] = {start: None}
    frontier = [start]
    while frontier:
        node = frontier.pop()
        if node == goal:
            path = [node]
            while (previous := came_from[path[-1]]) is not None:
                path.append(previous)
            return path[::-1]
        for nxt in edges.get(node, ()):
            if nxt not in came_from:
                came_from[nxt] = node
                frontier.append(nxt)
    return None


async def set_dependency(deps: Deps, service_id: int, depends_on_id: int, required: bool, actor: Actor) -> Service:
    """Declare (or update the `required` flag of) "`service_id` depends on `depends_on_id`".

    Raises NotFound (field `serviceId` / `dependsOnId`), BadUserInput for a service depending on
    itself and Conflict when the edge would close a cycle. Returns the dependent service.
    """
    service, depends_on = await _pair(service_id, depends_on_id)
    if service.id == depends_on.id:
        raise BadUserInput("a service cannot depend on itself", field="dependsOnId")
    async with in_transaction():
        await _lock(service.id, depends_on.id)
        cycle = await dependency_path(depends_on.id, service.id)
        if cycle is not None:
            names = dict(await Service.filter(id__in=cycle).values_list("id", "name"))
            loop = " -> ".join(str(names.get(i, i)) for i in [service.id, *cycle])
            raise Conflict(f"this dependency would close a cycle: {loop}", field="dependsOnId")
        edge = await ServiceDependency.get_or_none(service_id=service.id, depends_on_id=depends_on.id)
        after = {"dependsOnId": depends_on.id, "required": required}
        if edge is None:
            await ServiceDependency.create(service_id=service.id, depends_on_id=depends_on.id, required=required)
            await record_audit(actor, "service.dependency_set", "service", service.id, after=after)
        elif edge.required != required:
            before = {"dependsOnId": depends_on.id, "required": edge.required}
            edge.required = required
            await edge.save(update_fields=["required"])
            await record_audit(actor, "service.dependency_set", "service", service.id, before=before, after=after)
    return service


async def remove_dependency(deps: Deps, service_id: int, depends_on_id: int, actor: Actor) -> Service:
    """Drop the edge; NotFound (field `dependsOnId`) when `service_id` does not depend on it."""
    service, depends_on = await _pair(service_id, depends_on_id)
    async with in_transaction():
        edge = await ServiceDependency.get_or_none(service_id=service.id, depends_on_id=depends_on.id)
        if edge is None:
            raise NotFound(
                f"'{service.name}' does not depend on '{depends_on.name}'",
                field="dependsOnId",
            )
        before = {"dependsOnId": depends_on.id, "required": edge.required}
        await edge.delete()
        await record_audit(actor, "service.dependency_remove", "service", service.id, before=before)
    return service
