"""CloudWatch composite alarms through the front (moto answers PutCompositeAlarm with a 500):
created over metric alarms, found only when DescribeAlarms asks for them, and in the state
their rule gives over their children's states — for JSON clients (botocore 1.44) and for
query-protocol ones (older botocore)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ClientError
from botocore.loaders import create_loader
from front_helpers import REGION, ClientFactory, unique

from flexmigrate.sandbox.aws import AwsFront

BOTH = ["CompositeAlarm", "MetricAlarm"]


@pytest.fixture(scope="module")
def query_cloudwatch(front: AwsFront, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A botocore CloudWatch client that speaks the query protocol, as botocore did before
    CloudWatch's model offered JSON: the installed model with only that protocol."""
    model = create_loader().load_service_model("cloudwatch", "service-2")
    model["metadata"]["protocol"] = "query"
    model["metadata"].pop("protocols", None)
    root = tmp_path_factory.mktemp("models")
    folder = root / "cloudwatch" / model["metadata"]["apiVersion"]
    folder.mkdir(parents=True)
    (folder / "service-2.json").write_text(json.dumps(model))
    session = botocore.session.Session()
    session.get_component("data_loader").search_paths.insert(0, str(root))
    client = session.create_client(
        "cloudwatch",
        region_name=REGION,
        endpoint_url=front.url,
        aws_access_key_id="TESTFRONTKEY00000001",
        aws_secret_access_key="front-secret",
    )
    yield client
    client.close()


@pytest.fixture(params=["json", "query"])
def cloudwatch(request: pytest.FixtureRequest, aws: ClientFactory) -> Any:
    if request.param == "query":
        return request.getfixturevalue("query_cloudwatch")
    return aws("cloudwatch")


def _metric_alarm(cloudwatch: Any, name: str) -> None:
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        Namespace="AWS/ApplicationELB",
        MetricName="HTTPCode_Target_5XX_Count",
        Dimensions=[{"Name": "TargetGroup", "Value": "targetgroup/flexdesk-eks/1"}],
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=10.0,
        ComparisonOperator="GreaterThanThreshold",
    )
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="quiet")


def _composite(cloudwatch: Any, name: str) -> dict[str, Any]:
    found = cloudwatch.describe_alarms(AlarmNames=[name], AlarmTypes=["CompositeAlarm"])
    assert found["MetricAlarms"] == []
    assert [a["AlarmName"] for a in found["CompositeAlarms"]] == [name]
    return dict(found["CompositeAlarms"][0])


def _refused(call: Any, **params: Any) -> dict[str, str]:
    with pytest.raises(ClientError) as caught:
        call(**params)
    return dict(caught.value.response["Error"])


def test_a_composite_alarm_follows_its_children(cloudwatch: Any) -> None:
    errors, latency = unique("eks-5xx"), unique("eks-p99")
    for name in (errors, latency):
        _metric_alarm(cloudwatch, name)
    name = unique("eks-health")
    cloudwatch.put_composite_alarm(
        AlarmName=name,
        AlarmRule=f'ALARM("{errors}") OR ALARM({latency})',
        AlarmDescription="EKS side unhealthy",
        ActionsEnabled=False,
        Tags=[{"Key": "team", "Value": "platform"}],
    )
    quiet = _composite(cloudwatch, name)
    assert quiet["StateValue"] == "OK"
    assert quiet["AlarmRule"] == f'ALARM("{errors}") OR ALARM({latency})'
    assert quiet["AlarmDescription"] == "EKS side unhealthy"
    assert quiet["ActionsEnabled"] is False
    assert quiet["AlarmArn"] == f"arn:aws:cloudwatch:{REGION}:123456789012:alarm:{name}"

    cloudwatch.set_alarm_state(AlarmName=latency, StateValue="ALARM", StateReason="slow")
    firing = _composite(cloudwatch, name)
    assert firing["StateValue"] == "ALARM"
    assert f"alarm:{latency} transitioned to ALARM" in firing["StateReason"]
    triggering = json.loads(firing["StateReasonData"])["triggeringAlarms"]
    assert [t["state"]["value"] for t in triggering] == ["ALARM"]
    assert firing["StateTransitionedTimestamp"] >= quiet["StateTransitionedTimestamp"]

    cloudwatch.set_alarm_state(AlarmName=latency, StateValue="OK", StateReason="fast again")
    assert _composite(cloudwatch, name)["StateValue"] == "OK"
    tags = cloudwatch.list_tags_for_resource(ResourceARN=quiet["AlarmArn"])["Tags"]
    assert tags == [{"Key": "team", "Value": "platform"}]


def test_describe_alarms_returns_composites_only_when_asked(cloudwatch: Any) -> None:
    member = unique("ec2-5xx")
    _metric_alarm(cloudwatch, member)
    name = unique("ec2-health")
    cloudwatch.put_composite_alarm(AlarmName=name, AlarmRule=f"ALARM({member})")
    # AWS: "If you omit this parameter, only metric alarms are returned"
    plain = cloudwatch.describe_alarms(AlarmNames=[name, member])
    assert [a["AlarmName"] for a in plain["MetricAlarms"]] == [member]
    assert plain.get("CompositeAlarms", []) == []
    both = cloudwatch.describe_alarms(AlarmNames=[name, member], AlarmTypes=BOTH)
    assert [a["AlarmName"] for a in both["MetricAlarms"]] == [member]
    assert [a["AlarmName"] for a in both["CompositeAlarms"]] == [name]
    by_prefix = cloudwatch.describe_alarms(AlarmNamePrefix=name, AlarmTypes=BOTH)
    assert [a["AlarmName"] for a in by_prefix["CompositeAlarms"]] == [name]
    assert by_prefix["MetricAlarms"] == []
    cloudwatch.set_alarm_state(AlarmName=member, StateValue="ALARM", StateReason="errors")
    firing = cloudwatch.describe_alarms(
        AlarmNames=[name, member], AlarmTypes=BOTH, StateValue="ALARM"
    )
    assert [a["AlarmName"] for a in firing["MetricAlarms"]] == [member]
    assert [a["AlarmName"] for a in firing["CompositeAlarms"]] == [name]
    calm = cloudwatch.describe_alarms(AlarmNames=[name, member], AlarmTypes=BOTH, StateValue="OK")
    assert calm["MetricAlarms"] == [] and calm["CompositeAlarms"] == []


def test_the_rule_grammar(cloudwatch: Any) -> None:
    up, down, waiting = unique("up"), unique("down"), unique("waiting")
    for member in (up, down, waiting):
        _metric_alarm(cloudwatch, member)
    cloudwatch.set_alarm_state(AlarmName=down, StateValue="ALARM", StateReason="down")
    cloudwatch.set_alarm_state(AlarmName=waiting, StateValue="INSUFFICIENT_DATA", StateReason="?")
    rules = {
        f"ALARM({down}) AND NOT ALARM({up})": "ALARM",
        f'(ALARM("{up}") OR ALARM("{down}")) AND OK({up})': "ALARM",
        f"ALARM({up}) OR ALARM({down}) AND ALARM({waiting})": "OK",  # AND binds tighter
        f"INSUFFICIENT_DATA( {waiting} ) AND TRUE": "ALARM",
        f"NOT (OK({up}) AND FALSE)": "ALARM",
        f"ALARM(arn:aws:cloudwatch:{REGION}:123456789012:alarm:{down})": "ALARM",
        "FALSE": "OK",
    }
    names = {}
    for rule, expected in rules.items():
        names[rule] = unique("rule")
        cloudwatch.put_composite_alarm(AlarmName=names[rule], AlarmRule=rule)
        assert _composite(cloudwatch, names[rule])["StateValue"] == expected, rule
    # a composite of composites
    parent = unique("parent")
    first, last = names["FALSE"], names[f"ALARM({down}) AND NOT ALARM({up})"]
    cloudwatch.put_composite_alarm(AlarmName=parent, AlarmRule=f"ALARM({first}) OR ALARM({last})")
    assert _composite(cloudwatch, parent)["StateValue"] == "ALARM"
    cloudwatch.set_alarm_state(AlarmName=down, StateValue="OK", StateReason="up again")
    assert _composite(cloudwatch, parent)["StateValue"] == "OK"


def test_rules_that_cannot_be_saved_are_validation_errors(cloudwatch: Any) -> None:
    member = unique("member")
    _metric_alarm(cloudwatch, member)
    put = cloudwatch.put_composite_alarm
    bad = {
        f"ALARM({member}) AND": "Error in AlarmRule",
        f"ALARM({member}) XOR OK({member})": "Unsupported token 'XOR'",
        f"ALARMS({member})": "Unsupported token 'ALARMS'",
        f'ALARM("{member})': "Error in AlarmRule",
        "()": "Unsupported token ')' at char 1",
    }
    for rule, message in bad.items():
        error = _refused(put, AlarmName=unique("bad"), AlarmRule=rule)
        assert error["Code"] == "ValidationError", rule
        assert message in error["Message"], (rule, error)
    missing = unique("missing")
    error = _refused(put, AlarmName=unique("bad"), AlarmRule=f"ALARM({member}) OR OK({missing})")
    assert error["Code"] == "ValidationError"
    assert f"alarms [{missing}] in the alarm rule do not exist" in error["Message"]


def test_delete_alarms(cloudwatch: Any) -> None:
    member = unique("member")
    _metric_alarm(cloudwatch, member)
    first, second = unique("first"), unique("second")
    for name in (first, second):
        cloudwatch.put_composite_alarm(AlarmName=name, AlarmRule=f"ALARM({member})")
    error = _refused(cloudwatch.delete_alarms, AlarmNames=[member])
    assert error["Code"] == "ValidationError" and "depending on it" in error["Message"]
    error = _refused(cloudwatch.delete_alarms, AlarmNames=[first, second])
    assert error["Code"] == "ValidationError" and "one composite alarm" in error["Message"]
    cloudwatch.delete_alarms(AlarmNames=[first])
    cloudwatch.delete_alarms(AlarmNames=[second])
    left = cloudwatch.describe_alarms(AlarmNames=[first, second, member], AlarmTypes=BOTH)
    assert left["CompositeAlarms"] == []
    cloudwatch.delete_alarms(AlarmNames=[member])
    gone = cloudwatch.describe_alarms(AlarmNames=[member], AlarmTypes=BOTH)
    assert gone["MetricAlarms"] == []


def test_set_alarm_state_on_a_composite_holds_until_a_child_changes(cloudwatch: Any) -> None:
    member = unique("member")
    _metric_alarm(cloudwatch, member)
    name = unique("held")
    cloudwatch.put_composite_alarm(AlarmName=name, AlarmRule=f"ALARM({member})")
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="a drill")
    held = _composite(cloudwatch, name)
    assert (held["StateValue"], held["StateReason"]) == ("ALARM", "a drill")
    cloudwatch.set_alarm_state(AlarmName=member, StateValue="ALARM", StateReason="real")
    cloudwatch.set_alarm_state(AlarmName=member, StateValue="OK", StateReason="over")
    assert _composite(cloudwatch, name)["StateValue"] == "OK"


def test_calls_about_metric_alarms_alone_still_reach_moto(aws: ClientFactory) -> None:
    cloudwatch = aws("cloudwatch")
    name = unique("plain")
    _metric_alarm(cloudwatch, name)
    found = cloudwatch.describe_alarms(AlarmNames=[name], AlarmTypes=["MetricAlarm"])
    assert [a["AlarmName"] for a in found["MetricAlarms"]] == [name]
    cloudwatch.delete_alarms(AlarmNames=[name])
    assert cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"] == []


def test_children_and_parents_of_a_composite(cloudwatch: Any) -> None:
    first, second = unique("child"), unique("child")
    for member in (first, second):
        _metric_alarm(cloudwatch, member)
    inner = unique("inner")
    cloudwatch.put_composite_alarm(AlarmName=inner, AlarmRule=f"ALARM({first})")
    outer = unique("outer")
    cloudwatch.put_composite_alarm(AlarmName=outer, AlarmRule=f"ALARM({inner}) OR ALARM({second})")
    children = cloudwatch.describe_alarms(ChildrenOfAlarmName=outer)
    assert [a["AlarmName"] for a in children["CompositeAlarms"]] == [inner]
    assert [(a["AlarmName"], a["StateValue"]) for a in children["MetricAlarms"]] == [(second, "OK")]
    parents = cloudwatch.describe_alarms(ParentsOfAlarmName=first)
    assert [a["AlarmName"] for a in parents["CompositeAlarms"]] == [inner]
    assert parents["MetricAlarms"] == []
