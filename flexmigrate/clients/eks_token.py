"""Bearer tokens for an EKS cluster, made in-process as ``aws eks get-token`` makes them.

A token is ``k8s-aws-v1.`` followed by the unpadded base64url of a presigned STS
GetCallerIdentity URL whose signed headers include ``x-k8s-aws-id: <cluster name>``. The
cluster's authenticator calls that URL to learn who is asking. Nothing is shelled out, so
no AWS CLI is needed. Run as a module it prints an ExecCredential, which is what a
kubeconfig ``exec`` entry expects.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import sys
from typing import Any

TOKEN_PREFIX = "k8s-aws-v1."  # noqa: S105 - a format prefix, not a secret
# STS presigned URLs for EKS are signed for 60 s; the cluster accepts the token for 15 min.
_PRESIGN_SECONDS = 60
TOKEN_LIFETIME = dt.timedelta(minutes=14)


def get_token(session: Any, cluster_name: str, region: str | None = None) -> str:
    """Return a bearer token for ``cluster_name`` signed with ``session``'s credentials."""
    sts = session.client("sts", region_name=region or session.region_name)

    def _add_cluster_header(request: Any, **_: Any) -> None:
        request.headers["x-k8s-aws-id"] = cluster_name

    sts.meta.events.register_first("before-sign.sts.GetCallerIdentity", _add_cluster_header)
    url: str = sts.generate_presigned_url(
        "get_caller_identity", Params={}, ExpiresIn=_PRESIGN_SECONDS, HttpMethod="GET"
    )
    encoded = base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")
    return TOKEN_PREFIX + encoded


def exec_credential(token: str, now: dt.datetime | None = None) -> dict[str, Any]:
    expires = (now or dt.datetime.now(dt.UTC)) + TOKEN_LIFETIME
    return {
        "kind": "ExecCredential",
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "spec": {},
        "status": {
            "expirationTimestamp": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "token": token,
        },
    }


def exec_user(
    cluster: str,
    region: str,
    *,
    profile: str | None = None,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A kubeconfig user whose ``exec`` entry runs this module for a fresh token when asked:
    no token is written to disk, and no AWS CLI is needed."""
    args = ["-m", "flexmigrate.clients.eks_token", "--cluster", cluster, "--region", region]
    if profile:
        args += ["--profile", profile]
    entry: dict[str, Any] = {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "command": sys.executable,
        "args": args,
        "interactiveMode": "Never",
    }
    if env:
        entry["env"] = [{"name": k, "value": v} for k, v in env.items()]
    return {"exec": entry}


def kubeconfig(
    cluster: str,
    server: str,
    ca_data_b64: str,
    user: dict[str, Any],
    *,
    context: str | None = None,
) -> dict[str, Any]:
    """A one-cluster kubeconfig document (JSON is YAML: kubectl and helm read either)."""
    name = context or cluster
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": cluster,
                "cluster": {"server": server, "certificate-authority-data": ca_data_b64},
            }
        ],
        "users": [{"name": name, "user": user}],
        "contexts": [{"name": name, "context": {"cluster": cluster, "user": name}}],
        "current-context": name,
    }


def main(argv: list[str] | None = None) -> int:
    import argparse

    import boto3

    parser = argparse.ArgumentParser(
        prog="python -m flexmigrate.clients.eks_token",
        description="Print an ExecCredential with an EKS bearer token (for kubeconfig exec).",
    )
    parser.add_argument("--cluster", required=True)
    parser.add_argument("--region")
    parser.add_argument("--profile")
    args = parser.parse_args(argv)
    session = boto3.Session(profile_name=args.profile, region_name=args.region)
    token = get_token(session, args.cluster, args.region)
    json.dump(exec_credential(token), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
