"""Checks the engine adds to every phase: nothing in the runbook is left to fill in, the
credentials belong to the runbook's account and region (as Terraform's allowed_account_ids),
and the previous phase is complete."""

from __future__ import annotations

from typing import Any

from flexmigrate.engine.context import StepContext
from flexmigrate.engine.protocol import Check, Outcome, failed, passed, skipped
from flexmigrate.errors import CloudError


def _identity(ctx: StepContext[Any]) -> Outcome:
    expected = ctx.runbook.aws.account_id
    region = ctx.runbook.aws.region
    try:
        identity = ctx.clients.aws.caller_identity()
    except CloudError as exc:
        return failed(f"cannot tell who the credentials are: {exc}", exc.hint)
    account = str(identity.get("Account", ""))
    who = identity.get("Arn", "?")
    if account != expected:
        return failed(
            f"credentials are for account {account} ({who}); the runbook is for {expected}",
            "switch profile/credentials, or fix aws.account_id in the runbook",
        )
    try:
        regions = ctx.aws("ec2").describe_regions(RegionNames=[region], AllRegions=True)["Regions"]
    except CloudError as exc:
        return failed(f"region {region} is not usable: {exc}", "enable the region for the account")
    status = regions[0].get("OptInStatus", "opt-in-not-required") if regions else "unknown"
    if status not in ("opt-in-not-required", "opted-in"):
        return failed(
            f"region {region} is not enabled for account {account} ({status})",
            f"enable {region} in the account settings (it is an opt-in region)",
        )
    return passed(f"account {account} ({who}), region {region}")


def _placeholders(ctx: StepContext[Any]) -> Outcome:
    from flexmigrate.runbook.placeholders import describe, find_placeholders

    found = find_placeholders(ctx.runbook.model_dump())
    if not found:
        return passed("no placeholder left")
    return failed(
        f"the runbook still holds {len(found)} placeholder(s): {describe(found)}",
        "replace each <fill in: …> in the runbook with the real value, then "
        "`flexmigrate runbook validate`",
    )


# Any phase refuses a runbook with a placeholder, not only the phase that reads the field: a
# half-filled runbook must not create a cluster before phase 3 finds the image missing.
PLACEHOLDERS = Check("placeholders", "nothing in the runbook is left to fill in", _placeholders)


IDENTITY = Check("aws-identity", "credentials match the runbook's account and region", _identity)


def previous_phase(planned_before: frozenset[str]) -> Check:
    """Phase N needs N−1 complete (or, in a plan of several phases, planned before it)."""

    def run(ctx: StepContext[Any]) -> Outcome:
        previous = ctx.session.registry.previous(ctx.phase)
        if previous is None:
            return passed("first phase")
        status = ctx.phase_status(previous.id)
        if status == "completed":
            return passed(f"{previous.id} ({previous.slug}) is complete")
        if previous.id in planned_before:
            return skipped(f"{previous.id} is planned before this phase")
        return failed(
            f"{previous.id} ({previous.slug}) is {status}",
            f"run `flexmigrate run {previous.slug}` first",
        )

    return Check("previous-phase", "previous phase is complete", run)
