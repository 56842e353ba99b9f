"""Name and label rules: which kinds take DNS subdomains, labels or DNS-1035 names.

The messages are the API server's own, so ``kubectl`` prints the same ``is invalid:`` text.
"""

from __future__ import annotations

import re
from typing import Any

from flexmigrate.sandbox.kube import errors as e
from flexmigrate.sandbox.kube.errors import FieldError
from flexmigrate.sandbox.kube.resources import ResourceType

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_QUALIFIED = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")

SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
    "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
    "regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
    "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with "
    "an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
_NAME_PART_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and "
    "end with an alphanumeric character"
)
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
    "or '.', and must start and end with an alphanumeric character"
)
_LABEL_NAMED = {"namespaces"}
_DNS1035_NAMED = {"services"}
_PATH_SEGMENT_NAMED = {"roles", "rolebindings", "clusterroles", "clusterrolebindings"}


def name_errors(rt: ResourceType, name: str) -> list[FieldError]:
    field = "metadata.name"
    if rt.plural in _PATH_SEGMENT_NAMED:
        if name in (".", "..") or "/" in name or "%" in name:
            return [e.invalid_value(field, name, "may not contain '/' or '%'")]
        return []
    if rt.plural in _LABEL_NAMED:
        pattern, message, limit = _LABEL, LABEL_MSG, 63
    elif rt.plural in _DNS1035_NAMED:
        pattern, message, limit = _DNS1035, DNS1035_MSG, 63
    else:
        pattern, message, limit = _SUBDOMAIN, SUBDOMAIN_MSG, 253
    if len(name) > limit:
        return [e.invalid_value(field, name, f"must be no more than {limit} characters")]
    if not pattern.match(name):
        return [e.invalid_value(field, name, message)]
    return []


def label_errors(field: str, labels: Any, values_too: bool) -> list[FieldError]:
    out: list[FieldError] = []
    if not isinstance(labels, dict):
        return out
    for key, value in labels.items():
        prefix, _, name = key.rpartition("/")
        if (
            not name
            or len(name) > 63
            or not _QUALIFIED.match(name)
            or (prefix and not _SUBDOMAIN.match(prefix))
        ):
            out.append(
                e.invalid_value(
                    field,
                    key,
                    _NAME_PART_MSG,
                )
            )
        if values_too and value and (len(str(value)) > 63 or not _QUALIFIED.match(str(value))):
            out.append(
                e.invalid_value(
                    f"{field}",
                    value,
                    _LABEL_VALUE_MSG,
                )
            )
    return out
