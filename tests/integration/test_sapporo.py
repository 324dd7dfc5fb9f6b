"""A real WES peer: sapporo (the `ga4gh` extra) on 127.0.0.1, driven through Vigil's GraphQL API.

One sapporo serves the whole module; it starts within `START_DEADLINE_S` or the tests fail,
and it is terminated (then killed) whatever happens. Without the package the tests are skipped
with the reason printed; with VIGIL_TEST_REQUIRE_SERVICES=1 (CI) they fail instead. Sapporo
cannot run workflows here (that needs Docker): the tests cover detection, capabilities,
registration, panel sync, health and discovery, which only read its service-info.
"""

from __future__ import annotations

import json
import pathlib
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from models import Role
from tests.conftest import _services_required
from tests.integration.conftest import LiveVigil

WES_PREFIX = "/ga4gh/wes/v1"
START_DEADLINE_S = 20.0
STOP_DEADLINE_S = 5.0

TEST_CONNECTION = """
mutation($input: TestConnectionInput!) {
  testConnection(input: $input) {
    baseUrl apiType suggestedType name alreadyRegisteredId
    result { status httpStatus failureKind message serviceVersion }
    capabilities {
      name serviceVersion serviceType organization wesVersions filesystemProtocols
      workflowTypes { name versions } engines { name versions }
    }
  }
}"""
REGISTER = """
mutation($input: RegisterServiceInput!) {
  registerService(input: $input) { service { id name apiType baseUrl status } }
}"""
SYNC = """
mutation($id: ID!) {
  syncReferencePanels(serviceId: $id) {
    synced message added panels { key } result { status }
    service { serviceVersion capabilitiesSyncedAt capabilities { serviceType workflowTypes { name } } }
  }
}"""
CHECK = """
mutation($id: ID!) {
  checkServiceHealth(serviceId: $id) { status httpStatus failureKind serviceVersion manual service { status } }
}"""
DISCOVER = """
mutation($url: String!, $register: Boolean!) {
  discoverServices(url: $url, register: $register) {
    url result { status message }
    services { baseUrl apiType suggestedType name listedBy registeredId newlyRegistered result { status } }
    issues { baseUrl code message }
  }
}"""


def unavailable(message: str) -> None:
    """Skip with the reason printed, or fail under VIGIL_TEST_REQUIRE_SERVICES (tests/conftest.py)."""
    if _services_required():
        pytest.fail(f"{message}; VIGIL_TEST_REQUIRE_SERVICES is set, so this is a failure")
    print(f"\nSKIP: {message}")
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def service_info(base_url: str, timeout_s: float = 2.0) -> dict[str, Any]:
    with urllib.request.urlopen(f"{base_url}{WES_PREFIX}/service-info", timeout=timeout_s) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def wait_until_answering(process: subprocess.Popen[bytes], base_url: str, log: pathlib.Path) -> None:
    deadline = time.monotonic() + START_DEADLINE_S
    while True:
        if process.poll() is not None:
            pytest.fail(f"sapporo exited with {process.returncode} before answering:\n{log.read_text()[-2000:]}")
        try:
            service_info(base_url, timeout_s=1.0)
            return
        except (OSError, urllib.error.URLError):
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"sapporo did not answer within {START_DEADLINE_S:.0f} s:\n{log.read_text()[-2000:]}")
        time.sleep(0.1)  # polling a foreign process: there is no event to wait on


@pytest.fixture(scope="module")
def sapporo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL (no WES prefix) of a running sapporo, terminated at the end of the module."""
    executable = shutil.which("sapporo", path=str(pathlib.Path(sys.executable).parent)) or shutil.which("sapporo")
    if executable is None:
        unavailable("sapporo is not installed; install the extra: pip install -e '.[test,ga4gh]'")
    assert executable is not None
    workdir = tmp_path_factory.mktemp("sapporo")
    run_dir = workdir / "run"
    run_dir.mkdir()  # sapporo needs it to exist: its SQLite database lives there
    log = workdir / "sapporo.log"
    base_url = f"http://127.0.0.1:{free_port()}"
    command = [executable, "--host", "127.0.0.1", "--port", base_url.rsplit(":", 1)[1]]
    command += ["--run-dir", str(run_dir), "--url-prefix", WES_PREFIX]
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, cwd=workdir)
    try:
        wait_until_answering(process, base_url, log)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=STOP_DEADLINE_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_DEADLINE_S)


def data(answer: dict[str, Any], field: str) -> Any:
    assert "errors" not in answer, answer["errors"]
    return answer["data"][field]


async def register(live: LiveVigil, base_url: str) -> dict[str, Any]:
    answer = await live.gql(REGISTER, {"input": {"name": "Sapporo", "type": "GA4GH", "baseUrl": base_url}})
    return data(answer, "registerService")["service"]  # type: ignore[no-any-return]


async def test_connection_detects_sapporo_as_wes_with_the_capabilities_it_reports(
    live: LiveVigil, sapporo: str
) -> None:
    reported = service_info(sapporo)
    report = data(await live.gql(TEST_CONNECTION, {"input": {"baseUrl": sapporo}}), "testConnection")
    assert report["apiType"] == "GA4GH_WES"
    # sapporo serves WES at its root as well as under --url-prefix: detection keeps the URL given
    assert report["baseUrl"] == sapporo
    assert report["suggestedType"] == "GA4GH"
    assert report["name"] == reported["name"]
    assert report["alreadyRegisteredId"] is None
    assert report["result"]["status"] == "HEALTHY" and report["result"]["httpStatus"] == 200
    caps = report["capabilities"]
    assert caps["serviceVersion"] == reported["version"]
    group, artifact, version = (reported["type"][key] for key in ("group", "artifact", "version"))
    assert caps["serviceType"] == f"{group}:{artifact}:{version}"
    assert caps["organization"] == reported["organization"]["name"]
    assert caps["wesVersions"] == reported["supported_wes_versions"]
    assert caps["filesystemProtocols"] == reported["supported_filesystem_protocols"]
    assert caps["workflowTypes"] == [
        {"name": name, "versions": value["workflow_type_version"]}
        for name, value in reported["workflow_type_versions"].items()
    ]
    assert caps["engines"] == [
        {"name": name, "versions": value["workflow_engine_version"]}
        for name, value in reported["workflow_engine_versions"].items()
    ]
    assert {"CWL", "WDL", "NFL", "SMK"} <= {item["name"] for item in caps["workflowTypes"]}
    assert {"cwltool", "nextflow", "cromwell", "snakemake"} <= {item["name"] for item in caps["engines"]}


async def test_registered_sapporo_syncs_panels_and_checks_healthy(live: LiveVigil, sapporo: str) -> None:
    service = await register(live, sapporo)
    assert service["apiType"] == "GA4GH_WES"
    assert service["baseUrl"] == sapporo
    sync = data(await live.gql(SYNC, {"id": service["id"]}), "syncReferencePanels")
    assert sync["synced"] is True, sync["message"]
    assert sync["panels"] == [] and sync["added"] == 0, "a WES node offers no reference panels"
    assert sync["result"]["status"] == "HEALTHY"
    assert sync["service"]["serviceVersion"] == service_info(sapporo)["version"]
    assert sync["service"]["capabilitiesSyncedAt"] is not None
    assert {"name": "CWL"} in sync["service"]["capabilities"]["workflowTypes"]
    check = data(await live.gql(CHECK, {"id": service["id"]}, role=Role.OPERATOR), "checkServiceHealth")
    assert (check["status"], check["httpStatus"], check["failureKind"]) == ("HEALTHY", 200, None)
    assert check["manual"] is True and check["service"]["status"] == "HEALTHY"


async def test_vigil_registry_lists_sapporo_as_a_ga4gh_wes(live: LiveVigil, sapporo: str) -> None:
    service = await register(live, f"{sapporo}{WES_PREFIX}")
    data(await live.gql(SYNC, {"id": service["id"]}), "syncReferencePanels")
    headers = {"Authorization": f"Bearer {await live.token(Role.VIEWER)}"}
    async with live.http.get(f"{live.url}/ga4gh/registry/v1/services", headers=headers) as response:
        assert response.status == 200
        (entry,) = await response.json()
    reported = service_info(sapporo)
    assert entry["id"] == f"vigil.service.{service['id']}"
    assert entry["type"] == {"group": "org.ga4gh", "artifact": "wes", "version": reported["type"]["version"]}
    assert entry["organization"]["name"] == reported["organization"]["name"]
    assert entry["version"] == reported["version"]
    assert entry["url"] == f"{sapporo}{WES_PREFIX}"
    assert entry["vigil"]["reportedType"] == "sapporo-wes:wes:" + reported["type"]["version"]


async def test_discover_services_finds_sapporo_and_registers_it_once(live: LiveVigil, sapporo: str) -> None:
    found = data(await live.gql(DISCOVER, {"url": sapporo, "register": False}), "discoverServices")
    assert found["result"]["status"] == "HEALTHY"
    (candidate,) = found["services"]
    assert candidate["baseUrl"] == sapporo
    assert candidate["apiType"] == "GA4GH_WES"
    assert (candidate["registeredId"], candidate["newlyRegistered"]) == (None, False)
    registered = data(await live.gql(DISCOVER, {"url": sapporo, "register": True}), "discoverServices")
    (candidate,) = registered["services"]
    assert candidate["newlyRegistered"] is True and candidate["registeredId"] is not None
    assert registered["issues"] == []
    again = data(await live.gql(DISCOVER, {"url": sapporo, "register": True}), "discoverServices")
    assert [(c["registeredId"], c["newlyRegistered"]) for c in again["services"]] == [
        (candidate["registeredId"], False)
    ]


async def test_vigil_discovers_sapporo_through_its_own_ga4gh_registry(anonymous_live: LiveVigil, sapporo: str) -> None:
    service = await register(anonymous_live, f"{sapporo}{WES_PREFIX}")
    registry = f"{anonymous_live.url}/ga4gh/registry/v1"
    found = data(await anonymous_live.gql(DISCOVER, {"url": registry, "register": False}), "discoverServices")
    assert found["result"]["status"] == "HEALTHY", found["result"]["message"]
    itself, candidate = found["services"]
    assert (itself["baseUrl"], itself["apiType"], itself["listedBy"]) == (registry, "GA4GH_SERVICE_REGISTRY", None)
    assert itself["name"] == "Vigil service registry"
    assert candidate["baseUrl"] == f"{sapporo}{WES_PREFIX}"
    assert candidate["apiType"] == "GA4GH_WES"
    assert candidate["registeredId"] == service["id"]
    assert candidate["listedBy"] == registry
    assert candidate["result"]["status"] == "HEALTHY"
    assert found["issues"] == []
