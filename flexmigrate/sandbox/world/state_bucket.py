"""The runbook's state bucket, when its ``state:`` section puts the state in S3.

A team creates that bucket once, before its first migration, as the README's "State in S3"
says: versioning on, default encryption (SSE-KMS with the runbook's key when it names one),
public access blocked. The sandbox makes the same bucket, so a rehearsal keeps its state, lock
and journal in S3 exactly as a production run would.

Only the ``state`` mapping of the runbook is read here (the rest of the world does not depend
on it), with ruamel.yaml; validating the runbook is the command line's job.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def state_section(runbook: str) -> dict[str, Any] | None:
    """The runbook's ``state`` mapping when it names the s3 backend, else None."""
    if not runbook or not Path(runbook).is_file():
        return None
    from ruamel.yaml import YAML

    data = YAML(typ="safe", pure=True).load(Path(runbook).read_text(encoding="utf-8"))
    section = data.get("state") if isinstance(data, dict) else None
    if not isinstance(section, dict) or section.get("backend") != "s3":
        return None
    if not section.get("bucket") or not section.get("region"):
        return None
    return section


def seed_state_bucket(session: Any, endpoint_url: str, runbook: str) -> str | None:
    """Create the runbook's state bucket (versioned, encrypted, private); its name, or None
    when the runbook keeps its state locally. An existing bucket is left as it is."""
    section = state_section(runbook)
    if section is None:
        return None
    bucket = str(section["bucket"])
    region = str(section["region"])
    s3 = session.client("s3", endpoint_url=endpoint_url, region_name=region)
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if bucket in existing:
        return bucket
    config = {} if region == "us-east-1" else {"LocationConstraint": region}
    s3.create_bucket(Bucket=bucket, **({"CreateBucketConfiguration": config} if config else {}))
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    key = section.get("kms_key_id")
    rule: dict[str, Any] = {"SSEAlgorithm": "AES256"}
    if key:
        rule = {
            "SSEAlgorithm": "aws:kms",
            "KMSMasterKeyID": _kms_key(session, endpoint_url, region, str(key)),
        }
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": rule, "BucketKeyEnabled": True}]
        },
    )
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    return bucket


def _kms_key(session: Any, endpoint_url: str, region: str, key: str) -> str:
    """The runbook's key, made in the sandbox when it is an alias that does not exist yet."""
    if not key.startswith("alias/"):
        return key
    kms = session.client("kms", endpoint_url=endpoint_url, region_name=region)
    aliases = {a["AliasName"] for a in kms.list_aliases().get("Aliases", [])}
    if key not in aliases:
        key_id = kms.create_key(Description="flexmigrate state (sandbox)")["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName=key, TargetKeyId=key_id)
    return key
