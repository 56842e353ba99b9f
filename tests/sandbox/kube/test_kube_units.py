"""The emulator's pure parts: field sets, patches, selectors, tokens, protobuf, certificates."""

from __future__ import annotations

import base64
import datetime as dt
import re
from pathlib import Path

import pytest
from kube_helpers import make_token

from flexmigrate.sandbox.kube import fieldsets, protobuf
from flexmigrate.sandbox.kube.apply import Scope, server_side_apply
from flexmigrate.sandbox.kube.auth import eks_token_user
from flexmigrate.sandbox.kube.errors import ApiError
from flexmigrate.sandbox.kube.label_selectors import match_label_selector, parse_label_selector
from flexmigrate.sandbox.kube.meta import clone
from flexmigrate.sandbox.kube.patching import json_patch, strategic_merge
from flexmigrate.sandbox.kube.schema import SchemaBook
from flexmigrate.sandbox.tls import ensure_certificates

BOOK = SchemaBook()
DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "labels": {"app": "web"}},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "containers": [
                    {
                        "name": "app",
                        "image": "web:1",
                        "ports": [{"containerPort": 8000}],
                        "env": [{"name": "A", "value": "1"}],
                    },
                    {"name": "sidecar", "image": "proxy:1"},
                ]
            },
        },
    },
}


def test_field_sets_follow_the_api_servers_membership_rules() -> None:
    node = BOOK.model("V1Deployment")
    paths = set(fieldsets.values(DEPLOYMENT, node))
    containers = ("f:spec", "f:template", "f:spec", "f:containers")
    app = (*containers, 'k:{"name":"app"}')
    assert ("f:spec", "f:replicas") in paths
    assert ("f:spec", "f:selector") in paths  # LabelSelector is atomic
    assert ("f:spec", "f:selector", "f:matchLabels") not in paths
    assert app in paths and (*app, "f:image") in paths
    assert (
        *app,
        "f:ports",
        'k:{"containerPort":8000,"protocol":"TCP"}',
        "f:containerPort",
    ) in paths
    assert ("f:metadata", "f:labels", "f:app") in paths
    assert ("f:spec",) not in paths
    encoded = fieldsets.encode(paths)
    assert encoded["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"app"}']["."] == {}
    assert fieldsets.decode(encoded) == paths
    assert (
        fieldsets.path_string((*app, "f:image"))
        == '.spec.template.spec.containers[name="app"].image'
    )


def test_apply_merge_keeps_list_items_by_key_and_removes_pruned_paths() -> None:
    node = BOOK.model("V1Deployment")
    config = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "web:2"}]}}}}
    merged = fieldsets.merge(DEPLOYMENT, config, node)
    names = [(c["name"], c["image"]) for c in merged["spec"]["template"]["spec"]["containers"]]
    assert names == [("app", "web:2"), ("sidecar", "proxy:1")]
    sidecar = ("f:spec", "f:template", "f:spec", "f:containers", 'k:{"name":"sidecar"}')
    pruned = fieldsets.remove(merged, {sidecar, ("f:spec", "f:replicas")}, node)
    assert [c["name"] for c in pruned["spec"]["template"]["spec"]["containers"]] == ["app"]
    assert "replicas" not in pruned["spec"]
    assert DEPLOYMENT["spec"]["replicas"] == 2


def test_apply_replacing_a_container_prunes_the_old_one_whole() -> None:
    node = BOOK.model("V1Deployment")
    scope = Scope(node, has_status=True)
    first = server_side_apply(
        None,
        DEPLOYMENT,
        manager="kubectl",
        api_version="apps/v1",
        force=False,
        scope=scope,
        now="t1",
    )
    renamed = clone(DEPLOYMENT)
    renamed["spec"]["template"]["spec"]["containers"] = [{"name": "api", "image": "api:1"}]
    second = server_side_apply(
        first, renamed, manager="kubectl", api_version="apps/v1", force=False, scope=scope, now="t2"
    )
    assert second["spec"]["template"]["spec"]["containers"] == [{"name": "api", "image": "api:1"}]
    (entry,) = second["metadata"]["managedFields"]
    assert (
        'k:{"name":"app"}'
        not in entry["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]
    )


def test_strategic_merge_patch_directives() -> None:
    node = BOOK.model("V1Deployment")
    patch = {
        "metadata": {"finalizers": ["b"], "$deleteFromPrimitiveList/finalizers": ["a"]},
        "spec": {
            "strategy": {"$retainKeys": ["type"], "type": "Recreate"},
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "app"}],
                    "containers": [
                        {
                            "name": "app",
                            "ports": [{"containerPort": 9000}],
                            "env": [{"name": "A", "$patch": "delete"}],
                        },
                    ],
                }
            },
        },
    }
    original = {**DEPLOYMENT, "metadata": {**DEPLOYMENT["metadata"], "finalizers": ["a"]}}
    result = strategic_merge(original, patch, node)
    assert result["metadata"]["finalizers"] == ["b"]
    assert result["spec"]["strategy"] == {"type": "Recreate"}
    containers = result["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["sidecar", "app"]
    assert containers[1]["ports"] == [{"containerPort": 8000}, {"containerPort": 9000}]
    assert containers[1]["env"] == []
    replaced = strategic_merge(
        DEPLOYMENT,
        {
            "spec": {
                "template": {
                    "spec": {"containers": [{"$patch": "replace"}, {"name": "only", "image": "x"}]}
                }
            }
        },
        node,
    )
    assert replaced["spec"]["template"]["spec"]["containers"] == [{"name": "only", "image": "x"}]


def test_json_patch_operations() -> None:
    doc = {"a": {"b": [1, 2]}, "c": "x"}
    out = json_patch(
        doc,
        [
            {"op": "add", "path": "/a/b/-", "value": 3},
            {"op": "move", "from": "/c", "path": "/d"},
            {"op": "copy", "from": "/d", "path": "/e"},
            {"op": "remove", "path": "/a/b/0"},
            {"op": "test", "path": "/e", "value": "x"},
        ],
    )
    assert out == {"a": {"b": [2, 3]}, "d": "x", "e": "x"}
    assert doc == {"a": {"b": [1, 2]}, "c": "x"}
    with pytest.raises(ApiError) as missing:
        json_patch(doc, [{"op": "replace", "path": "/nope", "value": 1}])
    assert missing.value.code == 422


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("app=web,tier!=db", {"app": "web", "tier": "front"}, True),
        ("app==web", {"app": "api"}, False),
        ("env in (prod, staging),!canary", {"env": "prod"}, True),
        ("env notin (prod)", {"env": "prod"}, False),
        ("team", {"team": ""}, True),
        ("!team", {"team": "x"}, False),
    ],
)
def test_label_selector_grammar(selector: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_label_selector(selector)(labels) is expected


def test_label_selector_errors_and_object_form() -> None:
    with pytest.raises(ApiError) as bad:
        parse_label_selector("app in prod")
    assert bad.value.code == 400
    selector = {
        "matchLabels": {"app": "web"},
        "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}],
    }
    assert match_label_selector(selector, {"app": "web", "tier": "front"})
    assert not match_label_selector(selector, {"app": "web", "tier": "db"})


def _swap_query(token: str, pattern: str, replacement: str) -> str:
    encoded = token.removeprefix("k8s-aws-v1.")
    url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    return "k8s-aws-v1." + base64.urlsafe_b64encode(
        re.sub(pattern, replacement, url).encode()
    ).decode().rstrip("=")


def test_eks_tokens_are_checked_for_shape_and_age() -> None:
    token = make_token()
    assert eks_token_user(token) == "arn:aws:iam::123456789012:user/testing"
    assert eks_token_user(token.replace("k8s-aws-v1.", "k8s-aws-v2.")) is None
    assert eks_token_user(_swap_query(token, r"x-k8s-aws-id", "host")) is None
    assert (
        eks_token_user(_swap_query(token, r"Action=GetCallerIdentity", "Action=AssumeRole")) is None
    )
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=16)
    assert eks_token_user(token, now=later) is None
    assert eks_token_user("k8s-aws-v1.!!!") is None


def _field(number: int, payload: bytes) -> bytes:
    assert len(payload) < 128
    return bytes([number << 3 | 2, len(payload)]) + payload


def test_protobuf_secret_bodies_decode_to_json() -> None:
    meta = _field(1, b"release") + _field(11, _field(1, b"owner") + _field(2, b"helm"))
    secret = (
        _field(1, meta)
        + _field(2, _field(1, b"data") + _field(2, b"\x00\x01"))
        + _field(3, b"helm.sh/release.v1")
    )
    envelope = (
        protobuf.MAGIC + _field(1, _field(1, b"v1") + _field(2, b"Secret")) + _field(2, secret)
    )
    assert protobuf.decode(envelope) == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "release", "labels": {"owner": "helm"}},
        "data": {"data": "AAE="},
        "type": "helm.sh/release.v1",
    }
    unknown = (
        protobuf.MAGIC
        + _field(1, _field(1, b"apps/v1") + _field(2, b"Deployment"))
        + _field(2, b"")
    )
    with pytest.raises(ApiError) as refused:
        protobuf.decode(unknown)
    assert refused.value.code == 415


def test_certificates_are_made_once_and_reissued_for_new_hosts(tmp_path: Path) -> None:
    first = ensure_certificates(tmp_path)
    ca, cert = first.ca_pem.read_bytes(), first.cert_pem.read_bytes()
    assert ensure_certificates(tmp_path).cert_pem.read_bytes() == cert
    assert (first.key_pem.stat().st_mode & 0o777) == 0o600
    widened = ensure_certificates(tmp_path, hosts=("127.0.0.1", "localhost", "kube.sandbox.local"))
    assert widened.ca_pem.read_bytes() == ca
    assert widened.cert_pem.read_bytes() != cert
