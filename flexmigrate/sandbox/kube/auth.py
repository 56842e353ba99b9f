"""Bearer-token authentication in the form EKS accepts.

An EKS token is ``k8s-aws-v1.`` plus the unpadded base64url of a presigned STS
GetCallerIdentity URL signed with SigV4 over an ``x-k8s-aws-id`` header. EKS's
authenticator calls that URL; the emulator checks its shape and age instead (the host is
the sandbox's own AWS front, not sts.amazonaws.com), and names the caller after the access
key in the credential scope.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import os
from urllib.parse import parse_qs, urlsplit

TOKEN_PREFIX = "k8s-aws-v1."  # noqa: S105 - the token format's fixed prefix, not a secret
MAX_AGE = dt.timedelta(minutes=15)
_CLOCK_SKEW = dt.timedelta(minutes=5)
_ACCOUNT = "123456789012"


def eks_token_user(token: str, now: dt.datetime | None = None) -> str | None:
    """The user a well-formed, fresh EKS token stands for, or None if it is not one."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    encoded = token[len(TOKEN_PREFIX) :]
    try:
        url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    query = {k.lower(): v[-1] for k, v in parse_qs(parts.query).items()}
    if query.get("action") != "GetCallerIdentity":
        return None
    if query.get("x-amz-algorithm") != "AWS4-HMAC-SHA256" or not query.get("x-amz-signature"):
        return None
    signed = query.get("x-amz-signedheaders", "").split(";")
    if "x-k8s-aws-id" not in signed:
        return None
    credential = query.get("x-amz-credential", "")
    access_key = credential.split("/", 1)[0]
    if not access_key:
        return None
    try:
        issued = dt.datetime.strptime(query.get("x-amz-date", ""), "%Y%m%dT%H%M%SZ").replace(
            tzinfo=dt.UTC
        )
    except ValueError:
        return None
    current = now or dt.datetime.now(dt.UTC)
    if issued < current - MAX_AGE or issued > current + _CLOCK_SKEW:
        return None
    account = os.environ.get("MOTO_ACCOUNT_ID", _ACCOUNT)  # the sandbox's account
    return f"arn:aws:iam::{account}:user/{access_key}"
