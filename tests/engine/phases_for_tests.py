"""Phases defined for the engine's tests: they create real resources in the moto server
(a DynamoDB table, an S3 bucket with tags, an SQS queue) through the engine's clients, and
misbehave on request (environment variables) to exercise failures. Each owns a runbook section
of its own (``storage``, ``extras``), so the engine's runbook holds only its own sections and
these two."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import Field

from flexmigrate.clients.aws import is_not_found
from flexmigrate.engine.context import StepContext
from flexmigrate.engine.protocol import (
    Action,
    Change,
    Check,
    Outcome,
    Phase,
    Registry,
    Step,
    failed,
    passed,
)
from flexmigrate.errors import CloudError, GateBreached, StepFailed, TransientError
from flexmigrate.ownership import aws_tag_list, owned, tag_dict
from flexmigrate.runbook.types import SLUG, Duration, Percentage, Strict


class StorageSection(Strict):
    items_table: str = Field(default="items", pattern=SLUG, description="Table name suffix.")
    replicas: int = Field(default=1, ge=1, le=5)


class ExtrasSection(Strict):
    audit_table: str = Field(default="audit", pattern=SLUG)
    hold_timeout: Duration = 60.0
    bake: Duration = 300.0
    steps: list[Percentage] = Field(default_factory=lambda: [10, 50, 100])


class TableStep(Step):
    reversible = True

    def __init__(self, step_id: str, suffix: str) -> None:
        self.id = step_id
        self.title = f"DynamoDB table *-{suffix}"
        self.suffix = suffix

    def _name(self, ctx: StepContext) -> str:
        return f"{ctx.runbook.name}-{self.suffix}"

    def _describe(self, ctx: StepContext) -> dict[str, Any] | None:
        try:
            return dict(ctx.aws("dynamodb").describe_table(TableName=self._name(ctx))["Table"])
        except CloudError as exc:
            if is_not_found(exc):
                return None
            raise

    def plan(self, ctx: StepContext) -> Sequence[Change]:
        if os.environ.get("TEST_PLAN_MUTATES"):
            ctx.aws("dynamodb").delete_table(TableName=self._name(ctx))
        table = self._describe(ctx)
        if table is None:
            return [Change(Action.CREATE, f"table {self._name(ctx)}", "absent", "ACTIVE")]
        return [Change(Action.NOOP, f"table {self._name(ctx)}", table["TableStatus"], "ACTIVE")]

    def apply(self, ctx: StepContext) -> None:
        ddb = ctx.aws("dynamodb")
        table = self._describe(ctx)
        if table is None:
            ctx.failpoint("before-create")
            table = ddb.create_table(
                TableName=self._name(ctx),
                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                BillingMode="PAY_PER_REQUEST",
                Tags=aws_tag_list(ctx.tags()),
            )["TableDescription"]
        else:
            tags = ddb.list_tags_of_resource(ResourceArn=table["TableArn"]).get("Tags", [])
            if not owned(tags, ctx.runbook.name):
                ctx.record(adopted=True)
        ctx.record(table_arn=table["TableArn"])

        def active() -> tuple[bool, str]:
            found = self._describe(ctx)
            status = found["TableStatus"] if found else "absent"
            return status == "ACTIVE", status

        ctx.wait(f"table {self._name(ctx)}", active, timeout=30, interval=0.05)

    def verify(self, ctx: StepContext) -> Sequence[str]:
        return [] if self._describe(ctx) else [f"table {self._name(ctx)} is missing"]

    def rollback(self, ctx: StepContext) -> None:
        table = self._describe(ctx)
        if table is None:
            return
        tags = ctx.aws("dynamodb").list_tags_of_resource(ResourceArn=table["TableArn"])["Tags"]
        if not owned(tags, ctx.runbook.name):
            ctx.ui.info(f"keeping table {self._name(ctx)}: flexmigrate did not create it")
            return
        ctx.aws("dynamodb").delete_table(TableName=self._name(ctx))
        ctx.wait(
            f"table {self._name(ctx)} deleted",
            lambda: (self._describe(ctx) is None, "deleting"),
            timeout=30,
            interval=0.05,
        )


class BucketStep(Step):
    id = "create-bucket"
    title = "S3 bucket *-artifacts (tagged)"
    reversible = True

    def _name(self, ctx: StepContext) -> str:
        return f"{ctx.runbook.name}-artifacts"

    def _exists(self, ctx: StepContext) -> bool:
        try:
            ctx.aws("s3").head_bucket(Bucket=self._name(ctx))
        except CloudError as exc:
            if is_not_found(exc):
                return False
            raise
        return True

    def plan(self, ctx: StepContext) -> Sequence[Change]:
        action = Action.NOOP if self._exists(ctx) else Action.CREATE
        return [Change(action, f"bucket {self._name(ctx)}", "", "tagged")]

    def apply(self, ctx: StepContext) -> None:
        s3 = ctx.aws("s3")
        if not self._exists(ctx):
            s3.create_bucket(
                Bucket=self._name(ctx),
                CreateBucketConfiguration={"LocationConstraint": ctx.runbook.aws.region},
            )
        ctx.failpoint("between-calls")
        s3.put_bucket_tagging(Bucket=self._name(ctx), Tagging={"TagSet": aws_tag_list(ctx.tags())})
        ctx.record(bucket=self._name(ctx))

    def verify(self, ctx: StepContext) -> Sequence[str]:
        return [] if self._exists(ctx) else ["bucket missing"]

    def rollback(self, ctx: StepContext) -> None:
        if not self._exists(ctx):
            return
        try:
            tags = ctx.aws("s3").get_bucket_tagging(Bucket=self._name(ctx))["TagSet"]
        except CloudError:
            tags = []
        if owned(tags, ctx.runbook.name):
            ctx.aws("s3").delete_bucket(Bucket=self._name(ctx))


class QueueStep(Step):
    id = "create-queue"
    title = "SQS queue *-events"
    reversible = True

    def _name(self, ctx: StepContext) -> str:
        return f"{ctx.runbook.name}-events"

    def _url(self, ctx: StepContext) -> str | None:
        try:
            return str(ctx.aws("sqs").get_queue_url(QueueName=self._name(ctx))["QueueUrl"])
        except CloudError as exc:
            if "NonExistentQueue" in exc.code or is_not_found(exc):
                return None
            raise

    def plan(self, ctx: StepContext) -> Sequence[Change]:
        action = Action.NOOP if self._url(ctx) else Action.CREATE
        return [Change(action, f"queue {self._name(ctx)}", "", "present")]

    def apply(self, ctx: StepContext) -> None:
        url = (
            self._url(ctx)
            or ctx.aws("sqs").create_queue(QueueName=self._name(ctx), tags=ctx.tags())["QueueUrl"]
        )
        ctx.record(queue_url=url)

    def verify(self, ctx: StepContext) -> Sequence[str]:
        return [] if self._url(ctx) else ["queue missing"]

    def rollback(self, ctx: StepContext) -> None:
        url = self._url(ctx)
        if url is None:
            return
        tags = tag_dict(ctx.aws("sqs").list_queue_tags(QueueUrl=url).get("Tags", {}))
        if owned(tags, ctx.runbook.name):
            ctx.aws("sqs").delete_queue(QueueUrl=url)


class HoldStep(Step):
    """Waits until the file named by TEST_HOLD_FILE exists (for lock and Ctrl-C tests)."""

    id = "hold"
    title = "wait for the test to let go"
    reversible = True

    def plan(self, ctx: StepContext) -> Sequence[Change]:
        return [Change(Action.WAIT, "test hold file", "", "present")]

    def apply(self, ctx: StepContext) -> None:
        hold = os.environ.get("TEST_HOLD_FILE")
        if not hold:
            return
        path = Path(hold)
        started = Path(hold + ".started")
        started.write_text(str(os.getpid()))
        timeout = ctx.runbook.extras.hold_timeout
        ctx.wait(
            "the hold file", lambda: (path.exists(), "holding"), timeout=timeout, interval=0.05
        )

    def verify(self, ctx: StepContext) -> Sequence[str]:
        return []

    def rollback(self, ctx: StepContext) -> None:
        return None


class TroubleStep(Step):
    """Fails as TEST_TROUBLE says: flaky:N (transient N times), permanent, bug, gate."""

    id = "trouble"
    title = "a step that misbehaves on request"
    reversible = True

    def plan(self, ctx: StepContext) -> Sequence[Change]:
        return [Change(Action.UPDATE, "trouble", "", os.environ.get("TEST_TROUBLE", "none"))]

    def apply(self, ctx: StepContext) -> None:
        trouble = os.environ.get("TEST_TROUBLE", "none")
        if trouble.startswith("flaky:"):
            if ctx.step.attempts <= int(trouble.split(":")[1]):
                raise TransientError(f"throttled on attempt {ctx.step.attempts}")
        elif trouble == "permanent":
            raise StepFailed("the widget is broken", hint="replace the widget")
        elif trouble == "bug":
            _ = 1 / 0
        elif trouble == "gate":
            raise GateBreached("gate eks-5xx breached: 20 % > 1 %; traffic is back on EC2")
        ctx.record(ok=True)

    def verify(self, ctx: StepContext) -> Sequence[str]:
        return []

    def rollback(self, ctx: StepContext) -> None:
        return None


def _check_env(ctx: StepContext) -> Outcome:
    if os.environ.get("TEST_PREFLIGHT") == "fail":
        return failed("the test asked this check to fail", "unset TEST_PREFLIGHT")
    return passed("fine")


STORAGE = Phase(
    id="phase-1",
    slug="storage",
    title="tables, bucket and queue",
    checks=lambda runbook: [],
    steps=lambda runbook: [
        TableStep("create-table", runbook.storage.items_table),
        BucketStep(),
        QueueStep(),
    ],
    sections=lambda: [("storage", StorageSection, True)],
)

EXTRAS = Phase(
    id="phase-2",
    slug="extras",
    title="a second table and trouble on request",
    checks=lambda runbook: [Check("test-env", "the test's environment allows it", _check_env)],
    steps=lambda runbook: [
        TableStep("create-audit", runbook.extras.audit_table),
        HoldStep(),
        TroubleStep(),
    ],
    sections=lambda: [("extras", ExtrasSection, False)],
)


def registry() -> Registry:
    return Registry([STORAGE, EXTRAS])
