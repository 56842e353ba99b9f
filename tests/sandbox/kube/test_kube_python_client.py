"""The official Python client against the emulator: CRUD, patches, apply, errors, CRDs, watch."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from kube_helpers import api_client, make_token, wait_for
from kubernetes import client, watch

from flexmigrate.sandbox.kube import KubeEmulator

APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"


@pytest.fixture(scope="module")
def api(shared_emulator: KubeEmulator) -> Iterator[client.ApiClient]:
    with api_client(shared_emulator, make_token()) as api:
        yield api


@pytest.fixture
def namespace(api: client.ApiClient, request: pytest.FixtureRequest) -> str:
    name = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:50].strip("-")
    client.CoreV1Api(api).create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=name))
    )
    return name


def _status(err: client.ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(err.body)
    assert body["kind"] == "Status" and body["status"] == "Failure" and body["code"] == err.status
    return body


def _deployment(
    name: str, replicas: int | None = 2, labels: dict[str, str] | None = None
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {
                "containers": [
                    {
                        "name": "app",
                        "image": "flexdesk/backend:1.0",
                        "ports": [{"name": "http", "containerPort": 8000}],
                        "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                    }
                ]
            },
        },
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels or {"team": "web"}},
        "spec": spec,
    }


def test_configmap_create_get_list_replace_patch_delete(
    api: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(api)
    created = core.create_namespaced_config_map(
        namespace,
        client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="settings", labels={"tier": "web"}), data={"a": "1"}
        ),
    )
    assert created.metadata.uid and created.metadata.creation_timestamp
    assert int(created.metadata.resource_version) > 0
    fetched = core.read_namespaced_config_map("settings", namespace)
    assert fetched.data == {"a": "1"}
    assert [
        c.metadata.name
        for c in core.list_namespaced_config_map(namespace, label_selector="tier=web").items
    ] == ["settings"]
    others = core.list_namespaced_config_map(namespace, label_selector="tier!=web").items
    assert [c.metadata.name for c in others] == ["kube-root-ca.crt"]
    assert [
        c.metadata.name
        for c in core.list_namespaced_config_map(
            namespace, field_selector="metadata.name=settings"
        ).items
    ] == ["settings"]

    fetched.data = {"a": "2"}
    replaced = core.replace_namespaced_config_map("settings", namespace, fetched)
    assert replaced.data == {"a": "2"}
    assert int(replaced.metadata.resource_version) > int(created.metadata.resource_version)

    patched = core.patch_namespaced_config_map(
        "settings", namespace, {"data": {"b": "3"}}, _content_type=MERGE
    )
    assert patched.data == {"a": "2", "b": "3"}
    core.delete_namespaced_config_map("settings", namespace)
    with pytest.raises(client.ApiException) as missing:
        core.read_namespaced_config_map("settings", namespace)
    assert missing.value.status == 404
    body = _status(missing.value)
    assert body["reason"] == "NotFound"
    assert body["message"] == 'configmaps "settings" not found'
    assert body["details"] == {"name": "settings", "group": "", "kind": "configmaps"}


def test_stale_resource_version_is_a_conflict(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    first = core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="c"), data={"v": "1"})
    )
    core.patch_namespaced_config_map("c", namespace, {"data": {"v": "2"}}, _content_type=MERGE)
    first.data = {"v": "3"}
    with pytest.raises(client.ApiException) as stale:
        core.replace_namespaced_config_map("c", namespace, first)
    assert stale.value.status == 409
    body = _status(stale.value)
    assert body["reason"] == "Conflict"
    assert (
        "the object has been modified; please apply your changes to the latest version"
        in body["message"]
    )
    assert core.read_namespaced_config_map("c", namespace).data == {"v": "2"}


def test_creating_twice_is_already_exists(api: client.ApiClient, namespace: str) -> None:
    apps = client.AppsV1Api(api)
    apps.create_namespaced_deployment(namespace, _deployment("web"))
    with pytest.raises(client.ApiException) as dup:
        apps.create_namespaced_deployment(namespace, _deployment("web"))
    assert dup.value.status == 409
    body = _status(dup.value)
    assert body["reason"] == "AlreadyExists"
    assert body["message"] == 'deployments.apps "web" already exists'
    assert body["details"]["group"] == "apps"


def test_strategic_json_and_merge_patches(api: client.ApiClient, namespace: str) -> None:
    apps = client.AppsV1Api(api)
    created = apps.create_namespaced_deployment(namespace, _deployment("web"))
    assert created.metadata.generation == 1
    strategic = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "env": [{"name": "B", "value": "20"}, {"name": "C", "value": "3"}],
                        }
                    ]
                }
            }
        }
    }
    patched = apps.patch_namespaced_deployment("web", namespace, strategic, _content_type=STRATEGIC)
    container = patched.spec.template.spec.containers[0]
    assert container.image == "flexdesk/backend:1.0"
    assert [(e.name, e.value) for e in container.env] == [("A", "1"), ("B", "20"), ("C", "3")]
    assert patched.metadata.generation == 2

    ops = [
        {"op": "test", "path": "/spec/replicas", "value": 2},
        {
            "op": "replace",
            "path": "/spec/template/spec/containers/0/image",
            "value": "flexdesk/backend:2.0",
        },
    ]
    patched = apps.patch_namespaced_deployment("web", namespace, ops, _content_type=JSON_PATCH)
    assert patched.spec.template.spec.containers[0].image == "flexdesk/backend:2.0"
    assert patched.metadata.generation == 3

    patched = apps.patch_namespaced_deployment(
        "web",
        namespace,
        {"metadata": {"labels": {"team": None, "owner": "ops"}}},
        _content_type=MERGE,
    )
    assert patched.metadata.labels == {"owner": "ops"}
    assert patched.metadata.generation == 3

    remove_env = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [{"name": "app", "env": [{"name": "A", "$patch": "delete"}]}]
                }
            }
        }
    }
    patched = apps.patch_namespaced_deployment(
        "web", namespace, remove_env, _content_type=STRATEGIC
    )
    assert [e.name for e in patched.spec.template.spec.containers[0].env] == ["B", "C"]

    with pytest.raises(client.ApiException) as failed:
        apps.patch_namespaced_deployment(
            "web",
            namespace,
            [{"op": "test", "path": "/spec/replicas", "value": 9}],
            _content_type=JSON_PATCH,
        )
    assert failed.value.status == 422


def test_server_side_apply_tracks_owners_conflicts_and_force(
    api: client.ApiClient, namespace: str
) -> None:
    apps = client.AppsV1Api(api)
    mine = _deployment("web", replicas=2, labels={"team": "web", "tier": "backend"})
    applied = apps.patch_namespaced_deployment(
        "web", namespace, mine, field_manager="flexmigrate", _content_type=APPLY
    )
    assert applied.spec.replicas == 2
    owners = {m.manager: m for m in applied.metadata.managed_fields}
    assert owners["flexmigrate"].operation == "Apply"
    fields = owners["flexmigrate"].fields_v1
    assert fields["f:spec"]["f:replicas"] == {}
    assert 'k:{"name":"app"}' in fields["f:spec"]["f:template"]["f:spec"]["f:containers"]

    theirs = _deployment("web", replicas=5)
    with pytest.raises(client.ApiException) as clash:
        apps.patch_namespaced_deployment(
            "web", namespace, theirs, field_manager="helm", _content_type=APPLY
        )
    assert clash.value.status == 409
    body = _status(clash.value)
    assert body["reason"] == "Conflict"
    assert (
        body["message"]
        == 'Apply failed with 1 conflict: conflict with "flexmigrate" using apps/v1: .spec.replicas'
    )
    assert body["details"]["causes"] == [
        {
            "reason": "FieldManagerConflict",
            "message": 'conflict with "flexmigrate" using apps/v1',
            "field": ".spec.replicas",
        }
    ]

    forced = apps.patch_namespaced_deployment(
        "web", namespace, theirs, field_manager="helm", force=True, _content_type=APPLY
    )
    assert forced.spec.replicas == 5
    owners = {m.manager: m.fields_v1 for m in forced.metadata.managed_fields}
    assert "f:replicas" in owners["helm"]["f:spec"]
    assert "f:replicas" not in owners["flexmigrate"].get("f:spec", {})

    trimmed = _deployment("web", replicas=None, labels={"team": "web"})
    again = apps.patch_namespaced_deployment(
        "web", namespace, trimmed, field_manager="flexmigrate", _content_type=APPLY
    )
    assert again.metadata.labels == {"team": "web"}
    assert again.spec.replicas == 5


def test_apply_creates_and_is_idempotent(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "applied"},
        "data": {"k": "v"},
    }
    first = core.patch_namespaced_config_map(
        "applied", namespace, config, field_manager="flexmigrate", _content_type=APPLY
    )
    second = core.patch_namespaced_config_map(
        "applied", namespace, config, field_manager="flexmigrate", _content_type=APPLY
    )
    assert first.metadata.uid == second.metadata.uid
    assert first.metadata.resource_version == second.metadata.resource_version
    raw = api.call_api(
        "PATCH",
        f"{api.configuration.host}/api/v1/namespaces/{namespace}/configmaps/applied?fieldManager=flexmigrate",
        header_params={
            "Content-Type": APPLY,
            "Accept": "application/json",
            "Authorization": api.configuration.api_key["authorization"],
        },
        body="apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\ndata:\n  k: yaml\n",
    )
    raw.read()
    assert raw.status == 200
    assert json.loads(raw.data)["data"] == {"k": "yaml"}


def test_missing_objects_and_namespaces_are_not_found(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    with pytest.raises(client.ApiException) as missing:
        core.read_namespaced_service("nothing", "default")
    assert missing.value.status == 404
    with pytest.raises(client.ApiException) as no_ns:
        core.create_namespaced_config_map(
            "nowhere", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="c"))
        )
    assert no_ns.value.status == 404
    body = _status(no_ns.value)
    assert body["reason"] == "NotFound"
    assert body["message"] == 'namespaces "nowhere" not found'


def test_invalid_objects_are_422_naming_the_field(api: client.ApiClient, namespace: str) -> None:
    apps = client.AppsV1Api(api)
    broken = _deployment("broken")
    broken["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    with pytest.raises(client.ApiException) as invalid:
        apps.create_namespaced_deployment(namespace, broken)
    assert invalid.value.status == 422
    body = _status(invalid.value)
    assert body["reason"] == "Invalid"
    assert body["details"]["kind"] == "Deployment"
    assert [c["field"] for c in body["details"]["causes"]] == ["spec.template.metadata.labels"]
    assert "`selector` does not match template `labels`" in body["message"]

    core = client.CoreV1Api(api)
    with pytest.raises(client.ApiException) as portless:
        core.create_namespaced_service(
            namespace,
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "svc"},
                "spec": {"selector": {"a": "b"}},
            },
        )
    assert portless.value.status == 422
    assert _status(portless.value)["details"]["causes"] == [
        {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.ports"}
    ]
    with pytest.raises(client.ApiException) as bad_name:
        core.create_namespaced_config_map(
            namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="Not_Valid"))
        )
    assert bad_name.value.status == 422
    assert "a lowercase RFC 1123 subdomain" in _status(bad_name.value)["message"]


def _raw(
    api: client.ApiClient, method: str, path: str, body: Any, content_type: str = "application/json"
) -> tuple[int, Any, dict[str, Any]]:
    """A request the typed client would refuse to build (it validates bodies itself)."""
    response = api.call_api(
        method,
        f"{api.configuration.host}{path}",
        header_params={
            "Content-Type": content_type,
            "Accept": "application/json",
            "Authorization": api.configuration.api_key["authorization"],
        },
        body=body,
    )
    response.read()
    return response.status, response.headers, json.loads(response.data)


def test_unknown_fields_fail_strict_and_warn_otherwise(
    api: client.ApiClient, namespace: str
) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "typo"},
        "dta": {"a": "1"},
    }
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    status, _headers, strict = _raw(api, "POST", f"{path}?fieldValidation=Strict", body)
    assert status == 400
    assert strict["reason"] == "BadRequest"
    assert strict["message"] == (
        'ConfigMap in version "v1" cannot be handled as a ConfigMap: '
        'strict decoding error: unknown field "dta"'
    )
    status, headers, created = _raw(api, "POST", path, body)
    assert status == 201
    assert headers["Warning"] == '299 - "unknown field \\"dta\\""'
    assert "dta" not in created
    status, _headers, wrong_type = _raw(
        api, "POST", path, {**body, "metadata": {"name": "typed"}, "data": {"a": 1}}
    )
    assert status == 400
    assert (
        "cannot unmarshal number into Go struct field .data.a of type string"
        in wrong_type["message"]
    )


def test_dry_run_validates_but_stores_nothing(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)

    def stored() -> list[tuple[str, str]]:
        items = core.list_namespaced_config_map(namespace).items
        return sorted((i.metadata.name, i.metadata.resource_version) for i in items)

    # A new namespace gets its kube-root-ca.crt from a controller, a moment later (as on any
    # cluster); the list's own resourceVersion moves with every write in the cluster.
    before = wait_for(stored)
    dry = client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="dry", labels={"dry": "yes"}), data={"a": "1"}
    )
    preview = core.create_namespaced_config_map(namespace, dry, dry_run="All")
    assert preview.metadata.uid and preview.metadata.resource_version is None
    assert core.list_namespaced_config_map(namespace, label_selector="dry=yes").items == []
    assert stored() == before
    with pytest.raises(client.ApiException) as invalid:
        core.create_namespaced_config_map(
            namespace,
            client.V1ConfigMap(metadata=client.V1ObjectMeta(name="Bad_Name")),
            dry_run="All",
        )
    assert invalid.value.status == 422

    core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="real"), data={"a": "1"})
    )
    planned = core.patch_namespaced_config_map(
        "real", namespace, {"data": {"a": "2"}}, dry_run="All", _content_type=MERGE
    )
    assert planned.data == {"a": "2"}
    applied = core.patch_namespaced_config_map(
        "real",
        namespace,
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "real"}, "data": {"a": "3"}},
        field_manager="flexmigrate",
        force=True,
        dry_run="All",
        _content_type=APPLY,
    )
    assert applied.data == {"a": "3"}
    core.delete_namespaced_config_map("real", namespace, dry_run="All")
    assert core.read_namespaced_config_map("real", namespace).data == {"a": "1"}


def test_secrets_fold_string_data_and_never_echo_it(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    created = core.create_namespaced_secret(
        namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name="db"), string_data={"password": "s3cret"}
        ),
    )
    assert created.type == "Opaque"
    assert created.string_data is None
    assert base64.b64decode(created.data["password"]) == b"s3cret"


def test_finalizers_hold_deletion_until_cleared(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map(
        namespace,
        client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="held", finalizers=["example.com/hold"])
        ),
    )
    core.delete_namespaced_config_map("held", namespace)
    held = core.read_namespaced_config_map("held", namespace)
    assert held.metadata.deletion_timestamp is not None
    core.patch_namespaced_config_map(
        "held", namespace, {"metadata": {"finalizers": None}}, _content_type=MERGE
    )
    with pytest.raises(client.ApiException) as gone:
        core.read_namespaced_config_map("held", namespace)
    assert gone.value.status == 404


def test_new_built_in_objects_answer_an_empty_status(api: client.ApiClient, namespace: str) -> None:
    # A built-in kind's status is a Go struct, never omitted: the API server's create
    # strategy resets it (DeploymentStatus{}) and the answer carries it, zero, until a
    # controller writes one; fields without omitempty (ReplicaSetStatus.replicas) come as 0.
    # Clients read deploy.status.conditions at once.
    apps = client.AppsV1Api(api)
    answer = apps.create_namespaced_deployment(
        namespace, _deployment("fresh"), _preload_content=False
    )
    assert json.loads(answer.data)["status"] == {}
    replica_set = {**_deployment("bare", replicas=0), "kind": "ReplicaSet"}
    answer = apps.create_namespaced_replica_set(namespace, replica_set, _preload_content=False)
    assert json.loads(answer.data)["status"] == {"replicas": 0}
    written = {**_deployment("written"), "status": {"replicas": 9, "readyReplicas": 9}}
    stored = apps.create_namespaced_deployment(namespace, written)
    assert stored.status is not None and stored.status.ready_replicas is None


def test_scale_subresource(api: client.ApiClient, namespace: str) -> None:
    apps = client.AppsV1Api(api)
    apps.create_namespaced_deployment(namespace, _deployment("web", replicas=1))
    scale = apps.read_namespaced_deployment_scale("web", namespace)
    assert scale.spec.replicas == 1
    assert scale.status.selector == "app=web"
    apps.patch_namespaced_deployment_scale(
        "web", namespace, {"spec": {"replicas": 4}}, _content_type=MERGE
    )
    assert apps.read_namespaced_deployment("web", namespace).spec.replicas == 4


def test_crd_serves_custom_objects(api: client.ApiClient, namespace: str) -> None:
    ext = client.ApiextensionsV1Api(api)
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "servicemonitors.monitoring.coreos.com"},
        "spec": {
            "group": "monitoring.coreos.com",
            "names": {
                "kind": "ServiceMonitor",
                "plural": "servicemonitors",
                "singular": "servicemonitor",
                "shortNames": ["smon"],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "required": ["endpoints"],
                                    "properties": {
                                        "endpoints": {
                                            "type": "array",
                                            "items": {
                                                "type": "object",
                                                "properties": {
                                                    "port": {"type": "string"},
                                                    "interval": {"type": "string"},
                                                },
                                            },
                                        },
                                        "selector": {
                                            "type": "object",
                                            "x-kubernetes-preserve-unknown-fields": True,
                                        },
                                    },
                                },
                                "status": {
                                    "type": "object",
                                    "x-kubernetes-preserve-unknown-fields": True,
                                },
                            },
                        }
                    },
                }
            ],
        },
    }
    created = ext.create_custom_resource_definition(crd)
    conditions = {c.type: c.status for c in created.status.conditions}
    assert conditions == {"NamesAccepted": "True", "Established": "True"}
    assert created.status.accepted_names.kind == "ServiceMonitor"

    custom = client.CustomObjectsApi(api)
    args = ("monitoring.coreos.com", "v1", namespace, "servicemonitors")
    monitor = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": "backend"},
        "spec": {
            "endpoints": [{"port": "http", "interval": "30s"}],
            "selector": {"matchLabels": {"app": "backend"}},
        },
    }
    stored = custom.create_namespaced_custom_object(*args, monitor)
    assert stored["metadata"]["generation"] == 1
    assert (
        custom.get_namespaced_custom_object(*args, "backend")["spec"]["endpoints"][0]["port"]
        == "http"
    )
    assert [
        i["metadata"]["name"] for i in custom.list_namespaced_custom_object(*args)["items"]
    ] == ["backend"]
    patched = custom.patch_namespaced_custom_object(
        *args, "backend", {"spec": {"endpoints": [{"port": "metrics"}]}}, _content_type=MERGE
    )
    assert patched["metadata"]["generation"] == 2
    status = custom.patch_namespaced_custom_object_status(
        *args, "backend", {"status": {"healthy": True}}, _content_type=MERGE
    )
    assert status["status"] == {"healthy": True} and status["metadata"]["generation"] == 2
    with pytest.raises(client.ApiException) as invalid:
        custom.create_namespaced_custom_object(
            *args, {**monitor, "metadata": {"name": "bad"}, "spec": {"endpoints": "nope"}}
        )
    assert invalid.value.status == 422
    with pytest.raises(client.ApiException) as strategic:
        custom.patch_namespaced_custom_object(
            *args, "backend", {"spec": {}}, _content_type=STRATEGIC
        )
    assert strategic.value.status == 415

    ext.delete_custom_resource_definition("servicemonitors.monitoring.coreos.com")
    with pytest.raises(client.ApiException) as unserved:
        custom.list_namespaced_custom_object(*args)
    assert unserved.value.status == 404


def test_watch_streams_added_modified_deleted(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    start = core.list_namespaced_config_map(
        namespace, label_selector="watched=yes"
    ).metadata.resource_version
    core.create_namespaced_config_map(
        namespace,
        client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="w", labels={"watched": "yes"}), data={"n": "1"}
        ),
    )
    core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="other"), data={"n": "1"})
    )
    core.patch_namespaced_config_map("w", namespace, {"data": {"n": "2"}}, _content_type=MERGE)
    core.delete_namespaced_config_map("w", namespace)
    seen = [
        (event["type"], event["object"].metadata.name, (event["object"].data or {}).get("n"))
        for event in watch.Watch().stream(
            core.list_namespaced_config_map,
            namespace,
            label_selector="watched=yes",
            resource_version=start,
            timeout_seconds=1,
        )
    ]
    assert seen == [("ADDED", "w", "1"), ("MODIFIED", "w", "2"), ("DELETED", "w", "2")]


def test_namespace_deletion_removes_its_contents(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="c"))
    )
    client.AppsV1Api(api).create_namespaced_deployment(namespace, _deployment("web"))
    core.delete_namespace(namespace)
    assert core.read_namespace(namespace).status.phase == "Terminating"
    with pytest.raises(client.ApiException) as refused:
        core.create_namespaced_config_map(
            namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="late"))
        )
    # Forbidden while the namespace is terminating, NotFound once its controller has removed
    # it (on a fast machine that can already have happened): refused either way.
    assert refused.value.status in (403, 404)

    def gone() -> bool:
        try:
            core.read_namespace(namespace)
        except client.ApiException as err:
            return err.status == 404
        return False

    wait_for(gone, timeout=5)
    assert core.list_namespaced_config_map(namespace).items == []
    assert client.AppsV1Api(api).list_namespaced_deployment(namespace).items == []


@pytest.mark.parametrize(
    "header",
    [
        "",
        "Bearer nonsense",
        "Bearer k8s-aws-v1.aHR0cHM6Ly9zdHMuYW1hem9uYXdzLmNvbS8",
        "Basic dXNlcjpwYXNz",
    ],
)
def test_requests_without_a_valid_token_are_unauthorized(
    shared_emulator: KubeEmulator, header: str
) -> None:
    with api_client(shared_emulator, "placeholder") as stranger:
        headers = {"Accept": "application/json"}
        if header:
            headers["Authorization"] = header
        stranger.configuration.api_key = {}
        response = stranger.call_api(
            "GET", f"{shared_emulator.url}/api/v1/namespaces", header_params=headers
        )
        response.read()
        assert response.status == 401
        assert json.loads(response.data)["reason"] == "Unauthorized"


def test_stale_tokens_are_unauthorized(shared_emulator: KubeEmulator) -> None:
    token = make_token()
    encoded = token.removeprefix("k8s-aws-v1.")
    url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    old = re.sub(r"X-Amz-Date=\d{8}T\d{6}Z", "X-Amz-Date=20200101T000000Z", url)
    stale = "k8s-aws-v1." + base64.urlsafe_b64encode(old.encode()).decode().rstrip("=")
    with (
        api_client(shared_emulator, stale) as stranger,
        pytest.raises(client.ApiException) as denied,
    ):
        client.CoreV1Api(stranger).list_namespace()
    assert denied.value.status == 401
