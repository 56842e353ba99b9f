"""Conditional writes to one S3 key through the front are atomic, as S3 makes them: of many
racing creates with If-None-Match: *, exactly one succeeds and the rest get 412."""

from __future__ import annotations

import threading
from typing import Any

from botocore.exceptions import ClientError
from front_helpers import REGION, ClientFactory, unique

from flexmigrate.sandbox.aws import AwsFront

RACERS = 12


def _race(s3: Any, bucket: str, key: str, **condition: str) -> tuple[list[str], list[str]]:
    barrier = threading.Barrier(RACERS)
    won: list[str] = []
    lost: list[str] = []

    def racer(index: int) -> None:
        # unique per race: an ETag is the body's MD5, so a writer rewriting the body it wrote
        # before would still match its own old ETag
        body = f"writer {index} of {key} {sorted(condition.items())}"
        barrier.wait()
        try:
            s3.put_object(Bucket=bucket, Key=key, Body=body.encode(), **condition)
        except ClientError as exc:
            lost.append(exc.response["Error"]["Code"])
        else:
            won.append(body)

    threads = [threading.Thread(target=racer, args=(i,)) for i in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return won, lost


def test_racing_creates_of_one_key_admit_exactly_one(aws: ClientFactory, front: AwsFront) -> None:
    s3 = aws("s3", attempts=1)
    bucket = unique("lock-race")
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    for round_ in range(5):
        key = f"state/run-{round_}/lock"
        won, lost = _race(s3, bucket, key, IfNoneMatch="*")
        assert len(won) == 1, (won, lost)
        assert set(lost) <= {"PreconditionFailed", "ConditionalRequestConflict"}
        assert len(lost) == RACERS - 1
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
        assert body == won[0]
    etag = s3.head_object(Bucket=bucket, Key="state/run-0/lock")["ETag"]
    won, lost = _race(s3, bucket, "state/run-0/lock", IfMatch=etag)
    assert len(won) == 1 and len(lost) == RACERS - 1, (won, lost)
    seen = front.stats()["requests"]
    assert seen["s3"]["PutObject"] >= 6 * RACERS and "CopyObject" not in seen["s3"], seen
