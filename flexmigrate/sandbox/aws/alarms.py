"""CloudWatch composite alarms, which moto lacks (its PutCompositeAlarm answers 500).

The front keeps composite alarms itself, per account and region, and serves what the
CloudWatch API reference says about them:

- ``PutCompositeAlarm`` creates (state INSUFFICIENT_DATA, then evaluated at once) or updates
  (state kept, configuration replaced, tags ignored, evaluated again) a composite alarm; a
  rule that cannot be read, or that names alarms which do not exist, is a ValidationError;
- ``DescribeAlarms`` returns composite alarms only when ``AlarmTypes`` asks for them (without
  it, metric alarms only), merged with moto's metric alarms when both are asked for, filtered
  by ``AlarmNames``, ``AlarmNamePrefix``, ``StateValue`` and ``ActionPrefix`` together; with
  ``ChildrenOfAlarmName`` or ``ParentsOfAlarmName`` it lists a composite alarm's children, or
  the composite alarms whose rule names an alarm;
- ``DeleteAlarms`` deletes at most one composite alarm per call and refuses to delete an alarm
  another composite alarm's rule still references;
- ``SetAlarmState`` on a composite alarm holds until one of its children changes state;
- ``ListTagsForResource``, ``TagResource``, ``UntagResource``, ``EnableAlarmActions`` and
  ``DisableAlarmActions`` for composite alarms.

A composite alarm's state follows its rule (``alarm_rules``) over its children's states:
whenever one of them has changed since the last evaluation, it is evaluated again (ALARM when
the rule holds, OK otherwise), with the child's state time as the transition time. The front
evaluates when a composite alarm is read rather than on a timer, which a client cannot tell
apart. Composite alarms in a cycle are not evaluated, as CloudWatch stops evaluating there.

Both wire protocols botocore uses for CloudWatch are served: JSON (botocore 1.44) and the
query protocol (older clients). Calls about metric alarms alone pass to moto untouched.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from typing import Any

from flexmigrate.sandbox.aws.alarm_rules import RuleError, parse
from flexmigrate.sandbox.aws.alarm_state import (
    Child,
    Composite,
    aware,
    children_first,
    evaluate_one,
    utcnow,
)
from flexmigrate.sandbox.aws.alarms_wire import (
    Params,
    empty_reply,
    metric_facts,
    moto_metric_alarms,
    result_reply,
)
from flexmigrate.sandbox.aws.protocols import error_reply
from flexmigrate.sandbox.aws.routing import Call
from flexmigrate.sandbox.aws.upstream import MotoUpstream
from flexmigrate.sandbox.aws.wire import Inbound, Reply

_STATES = ("OK", "ALARM", "INSUFFICIENT_DATA")
_BATCH = 100
Scope = tuple[str, str]  # (account, region)


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def _validation(message: str) -> _Refused:
    return _Refused(400, "ValidationError", message)


class CompositeAlarms:
    def __init__(self, upstream: MotoUpstream) -> None:
        self._upstream = upstream
        self._lock = threading.RLock()
        self._alarms: dict[Scope, dict[str, Composite]] = {}
        self._accounts: dict[str, str] = {}

    def handle(self, call: Call, inbound: Inbound) -> Reply | None:
        if call.service != "cloudwatch" or call.protocol not in ("json", "query"):
            return None
        handler = getattr(self, f"_op_{call.operation}", None)
        if handler is None:
            return None
        params = Params(call, inbound)
        try:
            with self._lock:
                reply: Reply | None = handler(call, inbound, params)
                return reply
        except _Refused as refused:
            return error_reply(call, refused.status, refused.code, str(refused))

    # -- operations ------------------------------------------------------------------------

    def _op_PutCompositeAlarm(self, call: Call, inbound: Inbound, params: Params) -> Reply:
        name = params.text("AlarmName")
        text = params.text("AlarmRule")
        if not name or len(name) > 255:
            raise _validation("AlarmName must be 1 to 255 characters long")
        if not text or len(text) > 10240:
            raise _validation("AlarmRule must be 1 to 10240 characters long")
        try:
            rule = parse(text)
        except RuleError as exc:
            raise _validation(str(exc)) from None
        config = _config(params)
        scope = self._scope(call)
        store = self._alarms.setdefault(scope, {})
        metric = self._metric_alarms(call, [name, *rule.names])
        if name in metric:
            raise _validation(f"An alarm named {name} already exists and is a metric alarm")
        missing = [n for n in rule.names if n not in metric and n not in store and n != name]
        if missing:
            raise _validation(
                f"Could not save the composite alarm as alarms [{', '.join(missing)}] in the "
                "alarm rule do not exist"
            )
        now = utcnow()
        existing = store.get(name)
        if existing is None:
            store[name] = Composite(
                name=name,
                arn=f"arn:aws:cloudwatch:{scope[1]}:{scope[0]}:alarm:{name}",
                rule=rule,
                config=config,
                configured_at=now,
                tags=params.tags("Tags"),
                updated_at=now,
                transitioned_at=now,
            )
        else:
            existing.rule, existing.config, existing.configured_at = rule, config, now
            existing.seen = None
        self._evaluate(call, scope)
        return empty_reply(call)

    def _op_DescribeAlarms(self, call: Call, inbound: Inbound, params: Params) -> Reply | None:
        if params.text("ChildrenOfAlarmName") or params.text("ParentsOfAlarmName"):
            return self._family(call, params)
        types = params.texts("AlarmTypes")
        if "CompositeAlarm" not in types:
            return None  # metric alarms only: moto's own answer
        names = params.texts("AlarmNames")
        prefix = params.text("AlarmNamePrefix")
        if names and prefix:
            raise _validation("AlarmNames and AlarmNamePrefix cannot be specified together")
        state = params.text("StateValue")
        action = params.text("ActionPrefix")
        scope = self._scope(call)
        self._evaluate(call, scope)
        composites = [
            c.describe()
            for c in sorted(self._alarms.get(scope, {}).values(), key=lambda c: c.name)
            if _wanted(c.name, c.state, _actions(c.config), names, prefix, state, action)
        ]
        result: dict[str, Any] = {"CompositeAlarms": composites}
        metric: list[Any] = []
        if "MetricAlarm" in types:
            answer = self._upstream.exchange(inbound)
            if answer.status != 200:
                return answer
            metric = moto_metric_alarms(call, answer.data())
            metric = [
                m for m in metric if _wanted(*metric_facts(call, m), names, prefix, state, action)
            ]
        result["MetricAlarms"] = metric
        if "LogAlarm" in types:
            result["LogAlarms"] = []
        return result_reply(call, "DescribeAlarms", result)

    def _family(self, call: Call, params: Params) -> Reply:
        """DescribeAlarms with ChildrenOfAlarmName (the alarms a composite alarm's rule names,
        with their states) or ParentsOfAlarmName (the composite alarms whose rule names it)."""
        extra = set(params.names()) - {"MaxRecords", "NextToken"}
        if len(extra) > 1:
            raise _validation(
                "ChildrenOfAlarmName and ParentsOfAlarmName cannot be combined with any other "
                "parameter but MaxRecords and NextToken"
            )
        scope = self._scope(call)
        self._evaluate(call, scope)
        store = self._alarms.get(scope, {})
        parent = params.text("ParentsOfAlarmName")
        if parent:
            parents = [
                {"AlarmName": c.name, "AlarmArn": c.arn}
                for c in sorted(store.values(), key=lambda c: c.name)
                if parent in c.rule.names
            ]
            return result_reply(
                call, "DescribeAlarms", {"CompositeAlarms": parents, "MetricAlarms": []}
            )
        found = store.get(params.text("ChildrenOfAlarmName") or "")
        names = list(found.rule.names) if found else []
        metric = self._metric_alarms(call, [n for n in names if n not in store])
        composites = [store[n] for n in names if n in store]
        return result_reply(
            call,
            "DescribeAlarms",
            {
                "CompositeAlarms": [
                    {
                        "AlarmName": c.name,
                        "AlarmArn": c.arn,
                        "StateValue": c.state,
                        "StateUpdatedTimestamp": c.updated_at,
                    }
                    for c in composites
                ],
                "MetricAlarms": [
                    {
                        key: metric[n][key]
                        for key in ("AlarmName", "AlarmArn", "StateValue", "StateUpdatedTimestamp")
                        if key in metric[n]
                    }
                    for n in names
                    if n in metric
                ],
            },
        )

    def _op_DeleteAlarms(self, call: Call, inbound: Inbound, params: Params) -> Reply | None:
        scope = self._scope(call)
        store = self._alarms.get(scope)
        if not store:
            return None
        names = params.texts("AlarmNames")
        doomed = [n for n in names if n in store]
        if len(doomed) > 1:
            raise _validation(
                "You can delete at most one composite alarm in one DeleteAlarms operation"
            )
        for name in names:
            parents = [
                c.name for c in store.values() if name in c.rule.names and c.name not in names
            ]
            if parents:
                raise _validation(
                    f"Cannot delete {name} as there are composite alarm(s) depending on it."
                )
        rest = [n for n in names if n not in store]
        if rest:
            answer = self._upstream.exchange(inbound)
            if answer.status != 200:
                return answer
        for name in doomed:
            store.pop(name, None)
        return empty_reply(call)

    def _op_SetAlarmState(self, call: Call, inbound: Inbound, params: Params) -> Reply | None:
        found = self._alarms.get(self._scope(call), {}).get(params.text("AlarmName") or "")
        if found is None:
            return None
        value = params.text("StateValue") or ""
        if value not in _STATES:
            raise _validation(
                f"1 validation error detected: Value '{value}' at 'stateValue' failed to "
                "satisfy constraint: Member must satisfy enum value set: "
                "[INSUFFICIENT_DATA, ALARM, OK]"
            )
        data = params.text("StateReasonData")
        if data is not None:
            try:
                json.loads(data)
            except ValueError:
                raise _Refused(400, "InvalidFormat", "StateReasonData is not valid JSON") from None
        now = utcnow()
        if value != found.state:
            found.transitioned_at = now
        found.state, found.updated_at = value, now
        found.reason, found.reason_data = params.text("StateReason") or "", data
        return empty_reply(call)

    def _op_EnableAlarmActions(self, call: Call, inbound: Inbound, params: Params) -> Reply | None:
        return self._actions_enabled(call, inbound, params, True)

    def _op_DisableAlarmActions(self, call: Call, inbound: Inbound, params: Params) -> Reply | None:
        return self._actions_enabled(call, inbound, params, False)

    def _actions_enabled(
        self, call: Call, inbound: Inbound, params: Params, enabled: bool
    ) -> Reply | None:
        store = self._alarms.get(self._scope(call), {})
        names = params.texts("AlarmNames")
        if not any(n in store for n in names):
            return None
        if any(n not in store for n in names):
            answer = self._upstream.exchange(inbound)
            if answer.status != 200:
                return answer
        for name in names:
            if name in store:
                store[name].config["ActionsEnabled"] = enabled
        return empty_reply(call)

    def _op_ListTagsForResource(self, call: Call, inbound: Inbound, params: Params) -> Reply | None:
        found = self._by_arn(call, params.text("ResourceARN"))
        if found is None:
            return None
        return result_reply(call, "ListTagsForResource", {"Tags": list(found.tags)})

    def _op_TagResource(self, call: Call, inbound: Inbound, params: Params) -> Reply | None:
        found = self._by_arn(call, params.text("ResourceARN"))
        if found is None:
            return None
        tags = {t["Key"]: t["Value"] for t in found.tags}
        tags.update({t["Key"]: t["Value"] for t in params.tags("Tags")})
        found.tags = [{"Key": k, "Value": v} for k, v in tags.items()]
        return result_reply(call, "TagResource", {})

    def _op_UntagResource(self, call: Call, inbound: Inbound, params: Params) -> Reply | None:
        found = self._by_arn(call, params.text("ResourceARN"))
        if found is None:
            return None
        keys = set(params.texts("TagKeys"))
        found.tags = [t for t in found.tags if t["Key"] not in keys]
        return result_reply(call, "UntagResource", {})

    # -- state ---------------------------------------------------------------------------

    def _scope(self, call: Call) -> Scope:
        key = call.access_key or "sandbox"
        account = self._accounts.get(key)
        if account is None:
            sts = self._upstream.client("sts", call.region, call.access_key)
            account = str(sts.get_caller_identity()["Account"])
            self._accounts[key] = account
        return account, call.region

    def _by_arn(self, call: Call, arn: str | None) -> Composite | None:
        if not arn:
            return None
        store = self._alarms.get(self._scope(call), {})
        return next((c for c in store.values() if c.arn == arn), None)

    def _metric_alarms(self, call: Call, names: Iterable[str]) -> dict[str, dict[str, Any]]:
        """moto's metric alarms among ``names``, by name."""
        wanted = list(dict.fromkeys(names))
        client = self._upstream.client("cloudwatch", call.region, call.access_key)
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(wanted), _BATCH):
            answer = client.describe_alarms(AlarmNames=wanted[start : start + _BATCH])
            for alarm in answer.get("MetricAlarms", []):
                found[str(alarm["AlarmName"])] = dict(alarm)
        return found

    def _evaluate(self, call: Call, scope: Scope) -> None:
        """Evaluate every composite alarm of ``scope`` whose children changed state, children
        before parents."""
        store = self._alarms.get(scope)
        if not store:
            return
        children = {n for c in store.values() for n in c.rule.names if n not in store}
        metric = self._metric_alarms(call, children) if children else {}
        states = {
            name: Child(
                str(alarm.get("StateValue")),
                aware(alarm.get("StateUpdatedTimestamp")) or utcnow(),
                str(alarm.get("AlarmArn") or name),
            )
            for name, alarm in metric.items()
        }
        for composite in children_first(store):
            for name in composite.rule.names:
                if name in store:
                    child = store[name]
                    states[name] = Child(child.state, child.updated_at, child.arn)
            evaluate_one(composite, states)


def _config(params: Params) -> dict[str, Any]:
    config: dict[str, Any] = {
        "ActionsEnabled": params.boolean("ActionsEnabled", default=True),
        "AlarmActions": params.texts("AlarmActions"),
        "OKActions": params.texts("OKActions"),
        "InsufficientDataActions": params.texts("InsufficientDataActions"),
        "AlarmDescription": params.text("AlarmDescription"),
    }
    suppressor = params.text("ActionsSuppressor")
    if suppressor:
        wait = params.integer("ActionsSuppressorWaitPeriod")
        extension = params.integer("ActionsSuppressorExtensionPeriod")
        if wait is None or extension is None:
            raise _validation(
                "ActionsSuppressorWaitPeriod and ActionsSuppressorExtensionPeriod are required "
                "when ActionsSuppressor is specified"
            )
        config.update(
            ActionsSuppressor=suppressor,
            ActionsSuppressorWaitPeriod=wait,
            ActionsSuppressorExtensionPeriod=extension,
        )
    return config


def _actions(config: dict[str, Any]) -> list[str]:
    return [
        *config.get("AlarmActions", []),
        *config.get("OKActions", []),
        *config.get("InsufficientDataActions", []),
    ]


def _wanted(
    name: str,
    state: str,
    actions: list[str],
    names: list[str],
    prefix: str | None,
    value: str | None,
    action: str | None,
) -> bool:
    return (
        (not names or name in names)
        and (not prefix or name.startswith(prefix))
        and (not value or state == value)
        and (not action or any(a.startswith(action) for a in actions))
    )
