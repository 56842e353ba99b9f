"""IAM is eventually consistent: a role just created is not yet usable by EKS.

On AWS, ``CreateCluster`` right after ``CreateRole`` is answered ``InvalidParameterException``
("Role with arn: …, could not be assumed because it does not exist or the trusted entity is
not correct") for several seconds, and ``CreateNodegroup`` right after the node role is made
is refused the same way, naming the role's trust relationship: changes made in IAM reach
the other services' endpoints some time later ("Changes that I make are not always
immediately visible", IAM troubleshooting guide). Both are 400s, so no SDK retries them.

The front remembers when each role was created through it and refuses the two EKS creates
that name a role younger than ``Faults.iam_propagation`` seconds. Roles made before the
front saw them (the seeded world's) count as long since propagated.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from flexmigrate.sandbox.aws.routing import Call
from flexmigrate.sandbox.aws.wire import Inbound, Reply, json_reply
from flexmigrate.sandbox.faults import FaultBoard


class IamPropagation:
    def __init__(
        self, faults: FaultBoard | None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._faults = faults
        self._clock = clock
        self._lock = threading.Lock()
        self._created: dict[str, float] = {}  # role name -> when CreateRole succeeded

    def observe(self, call: Call, inbound: Inbound, reply: Reply) -> None:
        """Remember the moment a role was created (the answer, not the request, counts)."""
        if call.service != "iam" or call.operation != "CreateRole" or reply.status != 200:
            return
        name = inbound.form_value("RoleName")
        if name:
            with self._lock:
                self._created[name] = self._clock()

    def refuse(self, call: Call, inbound: Inbound) -> Reply | None:
        """EKS's answer to a create naming a role IAM has not yet propagated; else None."""
        delay = self._faults.get().iam_propagation if self._faults is not None else 0.0
        if delay <= 0 or call.service != "eks":
            return None
        if call.operation == "CreateCluster":
            field = "roleArn"
        elif call.operation == "CreateNodegroup":
            field = "nodeRole"
        else:
            return None
        try:
            arn = str(inbound.json().get(field) or "")
        except ValueError:
            return None
        name = arn.rsplit("/", 1)[-1]
        with self._lock:
            created = self._created.get(name)
        if created is None or self._clock() - created >= delay:
            return None
        if field == "roleArn":
            message = (
                f"Role with arn: {arn}, could not be assumed because it does not exist or the "
                "trusted entity is not correct"
            )
        else:
            message = (
                "Following required service principals [ec2.amazonaws.com] were not found in "
                f"the trust relationships of nodeRole {arn}"
            )
        return json_reply(
            400, {"message": message}, [("x-amzn-ErrorType", "InvalidParameterException")]
        )
