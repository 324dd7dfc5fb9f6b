"""The `vigil` command: serve, migrate, tokens, export/import, schema export."""

from __future__ import annotations

import asyncio
import json
import logging
import pathlib
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click
from pydantic import ValidationError

from config import Settings, describe_settings, settings_error_message

if TYPE_CHECKING:
    from resolvers.deps import Deps

T = TypeVar("T")


def load_settings(**overrides: Any) -> Settings:
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        raise click.ClickException(settings_error_message(exc)) from exc


# Libraries that write a notification URL, and so the secret in its path, into their DEBUG
# records: apprise ("Loaded JSON URL", "JSON POST URL") and urllib3 (each request line).
URL_LOGGING_LIBRARIES = ("apprise", "urllib3")


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    level = max(logging.INFO, logging.getLevelName(settings.log_level))
    for name in URL_LOGGING_LIBRARIES:
        logging.getLogger(name).setLevel(level)


def uvicorn_log_level(settings: Settings) -> str:
    """uvicorn's level: never DEBUG, whose records are the websockets protocol trace (every
    handshake header and every frame, API tokens in `connection_init` included)."""
    return "info" if settings.log_level == "DEBUG" else settings.log_level.lower()


def run(work: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(work())  # type: ignore[arg-type]


async def forget_cached_reads(deps: Deps, reason: str) -> None:
    """What a mutation over the API does before it answers: the servers' caches (L2 and, through
    `CacheInvalidated`, every replica's L1) must not keep showing the registry as it was."""
    if deps.cache is not None:
        await deps.cache.invalidate(reason=reason)


@click.group()
def main() -> None:
    """Vigil: the services API of a federated genomic imputation platform."""


@main.command(epilog="Environment variables:\n\n" + describe_settings().replace("\n", "\n\n"))
@click.option("--host", help="Listen address (VIGIL_HOST)")
@click.option("--port", type=int, help="Listen port (VIGIL_PORT)")
def serve(host: str | None, port: int | None) -> None:
    """Run the GraphQL API and the probe loop."""
    import uvicorn

    from app import create_app

    settings = load_settings(host=host, port=port)
    configure_logging(settings)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level=uvicorn_log_level(settings))


@main.command()
@click.option("--to", "target", help="A migration name to move to, or 'zero' to undo every migration")
def migrate(target: str | None) -> None:
    """Apply migrations (or roll back with --to)."""
    from models import db

    settings = load_settings()
    configure_logging(settings)
    config = db.tortoise_config(settings.database_url)

    async def work() -> list[str]:
        async with db.open_database(config, apply_migrations=False):
            await db.migrate(config, target)
            return await db.pending_migrations(config)

    pending = run(work)
    click.echo(
        f"database at {db.connection_name(settings.database_url)}: "
        + ("up to date" if not pending else f"pending: {', '.join(pending)}")
    )


@main.group()
def token() -> None:
    """API tokens."""


@token.command("create")
@click.option("--name", required=True, help="Who or what uses the token")
@click.option("--role", type=click.Choice(["VIEWER", "OPERATOR", "ADMIN"]), required=True)
def token_create(name: str, role: str) -> None:
    """Create a token and print its secret (shown once)."""
    from models import Role, db
    from resolvers.audit import CLI_ACTOR
    from resolvers.errors import VigilError
    from resolvers.tokens import create_token

    settings = load_settings()

    async def work() -> str:
        async with db.open_database(db.tortoise_config(settings.database_url)):
            _, secret = await create_token(name, Role(role), CLI_ACTOR)
            return secret

    try:
        secret = run(work)
    except VigilError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(secret)
    click.echo(f"(a {role} token named {name!r}; it is shown only now)", err=True)


@main.command("export")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=pathlib.Path), help="File (default: stdout)")
def export_cmd(output: pathlib.Path | None) -> None:
    """Write the registry as a document `vigil import` accepts (credentials are not exported)."""
    from models import db
    from resolvers.transfer import export_document

    settings = load_settings()

    async def work() -> str:
        async with db.open_database(db.tortoise_config(settings.database_url)):
            return await export_document()

    document = run(work)
    if output is None:
        click.echo(document)
    else:
        output.write_text(document + "\n")


@main.command("import")
@click.argument("file", type=click.File("r"))
def import_cmd(file: Any) -> None:
    """Import a document from `vigil export` (idempotent; all or nothing)."""
    from app import open_deps
    from resolvers.audit import CLI_ACTOR
    from resolvers.errors import VigilError
    from resolvers.transfer import import_document

    settings = load_settings()
    document = file.read()

    async def work() -> Any:
        async with open_deps(settings, run_probes=False) as deps:
            outcome = await import_document(deps, document, CLI_ACTOR)
            await forget_cached_reads(deps, "vigil import")
            return outcome

    try:
        outcome = run(work)
    except VigilError as exc:
        raise click.ClickException(f"{exc.message} ({exc.code})") from exc
    click.echo(
        json.dumps(
            {
                "created": outcome.created,
                "updated": outcome.updated,
                "unchanged": outcome.unchanged,
                "dependenciesSet": outcome.dependencies_set,
            }
        )
    )


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Listen address")
@click.option("--port", default=8000, show_default=True, type=int, help="Listen port (0: any free port)")
def demo(host: str, port: int) -> None:
    """Run Vigil with simulated imputation services that change status on a timer."""
    from demo import run_demo

    logging.basicConfig(level="WARNING", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(run_demo(host, port))
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C once it has shut down cleanly
        click.echo("demo stopped")


@main.command()
@click.argument("url")
@click.option("--register", is_flag=True, help="Register what is found (idempotent: nothing twice)")
@click.option("--credential", envvar="VIGIL_DISCOVER_CREDENTIAL", help="Token for the URL's own origin")
def discover(url: str, register: bool, credential: str | None) -> None:
    """Find what answers at URL (crawling registries) and print it as JSON."""
    from app import open_deps
    from resolvers.audit import CLI_ACTOR
    from resolvers.discovery import discover as discover_services
    from resolvers.errors import VigilError

    settings = load_settings()

    async def work() -> Any:
        async with open_deps(settings, run_probes=False) as deps:
            report = await discover_services(deps, url, register, CLI_ACTOR, credential=credential)
            if register:
                await forget_cached_reads(deps, "vigil discover --register")
            return report

    try:
        report = run(work)
    except VigilError as exc:
        raise click.ClickException(f"{exc.message} ({exc.code})") from exc
    found = [
        {
            "name": c.service.name,
            "baseUrl": c.service.base_url,
            "apiType": c.service.api_type.value,
            "suggestedType": c.service.service_type.value,
            "status": c.service.result.status.value,
            "registeredId": c.registered_id,
            "newlyRegistered": c.newly_registered,
        }
        for c in report.candidates
    ]
    issues = [{"baseUrl": e.base_url, "code": e.code, "message": e.message} for e in report.errors]
    click.echo(
        json.dumps({"url": report.url, "message": report.result.message, "services": found, "issues": issues}, indent=2)
    )


@main.command("export-schema")
@click.option("--markdown", is_flag=True, help="Print the API reference instead (kept as docs/reference.md)")
def export_schema(markdown: bool) -> None:
    """Print the GraphQL SDL (the repository keeps it as schema.graphql)."""
    from schema.build import build_schema

    built = build_schema(Settings())
    if markdown:
        from schema.reference import render_reference

        sys.stdout.write(render_reference(built._schema))
    else:
        sys.stdout.write(built.as_str() + "\n")


if __name__ == "__main__":
    main()
