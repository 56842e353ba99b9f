"""Reading the instance's Compose file for `flexmigrate init`: the service behind the target
group's port in each port syntax the Compose Specification allows, the environment's key
names (never values), the healthcheck and the resources as Kubernetes writes them."""

from __future__ import annotations

from pathlib import Path

import pytest

from flexmigrate.commands.init.compose import read_compose
from flexmigrate.errors import InvalidInput


def _compose(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "docker-compose.yml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "ports",
    [
        '["80:8080"]',
        '["127.0.0.1:80:8080/tcp"]',
        '["80-81:8080-8081"]',
        "[{target: 8080, published: 80, protocol: tcp}]",
        '[{target: 8080, published: "80"}]',
    ],
)
def test_the_service_is_the_one_publishing_the_target_groups_port(
    tmp_path: Path, ports: str
) -> None:
    path = _compose(
        tmp_path,
        f"services:\n  proxy:\n    image: nginx:1.27\n    ports: ['8443:443']\n"
        f"  api:\n    image: example/api:1.0\n    ports: {ports}\n",
    )
    service = read_compose(path, 80)
    assert (service.name, service.container_port, service.image) == ("api", 8080, "example/api:1.0")


def test_no_service_on_the_port_is_refused_naming_what_the_file_publishes(tmp_path: Path) -> None:
    path = _compose(tmp_path, "services:\n  api:\n    image: a:1\n    ports: ['9000:9000']\n")
    with pytest.raises(InvalidInput) as caught:
        read_compose(path, 8000)
    assert "publish port 8000" in str(caught.value) and "api (9000:9000)" in str(caught.value)


def test_environment_gives_key_names_only(tmp_path: Path) -> None:
    path = _compose(
        tmp_path,
        "services:\n  api:\n    image: a:1\n    ports: ['80:80']\n"
        "    environment: [API_KEY=top-secret-value, 'DEBUG']\n    env_file: [app.env]\n",
    )
    (tmp_path / "app.env").write_text("# keys\nexport DB_PASSWORD=another-secret\n\nDB_USER=x\n")
    service = read_compose(path, 80)
    assert service.env_keys == ("API_KEY", "DEBUG", "DB_PASSWORD", "DB_USER")
    assert "secret" not in repr(service).replace("Secret", "")


def test_healthcheck_and_resources(tmp_path: Path) -> None:
    path = _compose(
        tmp_path,
        "services:\n  api:\n    image: a:1\n    ports: ['80:8000']\n"
        "    healthcheck:\n      test: curl -fsS http://127.0.0.1:8000/healthz || exit 1\n"
        "      interval: 1m30s\n      retries: 5\n"
        "    deploy:\n      resources:\n        limits: {cpus: '0.5', memory: 1.5gb}\n",
    )
    service = read_compose(path, 80)
    check = service.healthcheck
    assert check is not None
    assert (check.http_path, check.interval, check.retries) == ("/healthz", 90, 5)
    assert (service.cpu_limit, service.memory_limit) == ("500m", "1536Mi")


def test_a_non_http_healthcheck_becomes_an_exec_probe(tmp_path: Path) -> None:
    path = _compose(
        tmp_path,
        "services:\n  api:\n    build: .\n    ports: ['80:80']\n"
        "    healthcheck:\n      test: [CMD, /app/bin/health, --quick]\n",
    )
    service = read_compose(path, 80)
    assert service.image is None and "push it and set app.image" in service.notes[0]
    assert service.healthcheck is not None
    assert service.healthcheck.http_path is None
    assert service.healthcheck.command == ("/app/bin/health", "--quick")
