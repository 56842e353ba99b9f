"""Percentile statistics (``p99``, ``p99.9``) in CloudWatch GetMetricData, which moto lacks.

moto keeps every published value but computes only Sum/Average/Minimum/Maximum/SampleCount.
When moto runs in this process, the front answers percentile queries from moto's raw data
points, bucketed by period exactly as moto buckets its own statistics, and forwards the
other queries of the same request to moto, merging the answers in request order. When
moto's backend for the caller's account and region is not in this process (or holds
nothing), the request goes to moto unchanged. botocore 1.44 calls CloudWatch with the JSON
protocol; the query protocol of older clients is handled too.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import sys
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import urlencode
from xml.sax.saxutils import escape

from flexmigrate.sandbox.aws.routing import Call
from flexmigrate.sandbox.aws.upstream import MotoUpstream
from flexmigrate.sandbox.aws.wire import Inbound, Reply, request_id

_PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d+)?|100)$")
_DEFAULT_ACCOUNT = "123456789012"
_NS = "http://monitoring.amazonaws.com/doc/2010-08-01/"
_QUERY_PREFIX = re.compile(r"^MetricDataQueries\.member\.(\d+)\.(.+)$")


class Percentiles:
    def __init__(self, upstream: MotoUpstream) -> None:
        self._upstream = upstream

    def handle(self, call: Call, inbound: Inbound) -> Reply | None:
        if call.service != "cloudwatch" or call.operation != "GetMetricData":
            return None
        if call.protocol == "json":
            return self._json(call, inbound)
        if call.protocol == "query":
            return self._query(call, inbound)
        return None

    def _json(self, call: Call, inbound: Inbound) -> Reply | None:
        body = inbound.json()
        queries = list(body.get("MetricDataQueries", []))
        wanted = [q for q in queries if _is_percentile(q)]
        backend = _backend(call) if wanted else None
        if backend is None:
            return None
        forwarded = dict(body, MetricDataQueries=[q for q in queries if not _is_percentile(q)])
        reply = self._upstream.exchange(inbound, body=json.dumps(forwarded).encode())
        if reply.status != 200:
            return reply
        answer = json.loads(reply.data())
        start, end = _instant(body["StartTime"]), _instant(body["EndTime"])
        descending = body.get("ScanBy", "TimestampDescending") == "TimestampDescending"
        computed = {
            q["Id"]: _compute(backend, q, start, end, descending)
            for q in wanted
            if q.get("ReturnData", True)
        }
        for result in computed.values():
            result["Timestamps"] = [int(t.timestamp()) for t in result["Timestamps"]]
        answer["MetricDataResults"] = _merge(queries, answer.get("MetricDataResults", []), computed)
        data = json.dumps(answer).encode()
        headers = [(k, v) for k, v in reply.headers if k.lower() != "content-length"]
        return Reply(200, [*headers, ("Content-Length", str(len(data)))], data)

    def _query(self, call: Call, inbound: Inbound) -> Reply | None:
        form = {k: v[0] for k, v in inbound.form().items()}
        queries = _form_queries(form)
        wanted = [q for q in queries if _is_percentile(q)]
        backend = _backend(call) if wanted else None
        if backend is None:
            return None
        kept = {k: v for k, v in form.items() if not _QUERY_PREFIX.match(k)}
        position = 0
        for number, query in enumerate(queries, start=1):
            if _is_percentile(query):
                continue
            position += 1
            for key, value in form.items():
                found = _QUERY_PREFIX.match(key)
                if found and int(found.group(1)) == number:
                    kept[f"MetricDataQueries.member.{position}.{found.group(2)}"] = value
        reply = self._upstream.exchange(inbound, body=urlencode(kept).encode())
        if reply.status != 200:
            return reply
        start, end = _instant(form["StartTime"]), _instant(form["EndTime"])
        descending = form.get("ScanBy", "TimestampDescending") == "TimestampDescending"
        computed = {
            q["Id"]: _compute(backend, q, start, end, descending)
            for q in wanted
            if q.get("ReturnData", True)
        }
        merged = _merge(queries, _xml_results(reply.data()), computed)
        return _xml_reply(merged)


def _is_percentile(query: dict[str, Any]) -> bool:
    return bool(_PERCENTILE.match(str(query.get("MetricStat", {}).get("Stat", ""))))


def _backend(call: Call) -> Any:
    """moto's CloudWatch backend for the caller, if moto lives in this process and has data."""
    models = sys.modules.get("moto.cloudwatch.models")
    if models is None:
        return None
    iam = sys.modules.get("moto.iam.models")
    # The sandbox answers as the runbook's account (moto's MOTO_ACCOUNT_ID).
    account = os.environ.get("MOTO_ACCOUNT_ID") or (
        iam.get_account_id_from(call.access_key) if iam is not None else _DEFAULT_ACCOUNT
    )
    backend = models.cloudwatch_backends[account][call.region]
    return backend if backend.metric_data else None


def _compute(
    backend: Any, query: dict[str, Any], start: dt.datetime, end: dt.datetime, descending: bool
) -> dict[str, Any]:
    stat = query["MetricStat"]
    metric = stat["Metric"]
    dimensions = sorted((d["Name"], d["Value"]) for d in metric.get("Dimensions", []))
    unit = stat.get("Unit")
    percentile = float(stat["Stat"][1:])
    points = []
    for datum in list(backend.metric_data):
        value = getattr(datum, "value", None)  # StatisticValues sets hold no single values
        if value is None or datum.namespace != metric["Namespace"]:
            continue
        if datum.name != metric["MetricName"]:
            continue
        if sorted((d.name, d.value) for d in datum.dimensions) != dimensions:
            continue
        if unit and datum.unit != unit:
            continue
        points.append((_aware(datum.timestamp), float(value)))
    start = start.replace(microsecond=0)
    end = end.replace(microsecond=0)
    period = dt.timedelta(seconds=int(stat["Period"]))
    stamps: list[dt.datetime] = []
    values: list[float] = []
    bucket = start
    while bucket <= end:
        inside = [v for t, v in points if bucket <= t < bucket + period and start <= t < end]
        if inside:
            stamps.append(bucket)
            values.append(_nearest_rank(inside, percentile))
        bucket += period
    if descending:
        stamps.reverse()
        values.reverse()
    return {
        "Id": query["Id"],
        "Label": query.get("Label") or f"{metric['MetricName']} {stat['Stat']}",
        "Timestamps": stamps,
        "Values": values,
        "StatusCode": "Complete",
    }


def _nearest_rank(values: list[float], percentile: float) -> float:
    ordered = sorted(values)
    rank = max(1, math.ceil(percentile / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def _merge(
    queries: list[dict[str, Any]], from_moto: list[dict[str, Any]], computed: dict[str, Any]
) -> list[dict[str, Any]]:
    by_id = {r["Id"]: r for r in from_moto}
    merged = []
    for query in queries:
        if query["Id"] in computed:
            merged.append(computed[query["Id"]])
        elif query["Id"] in by_id:
            merged.append(by_id.pop(query["Id"]))
    return merged + list(by_id.values())


def _instant(value: Any) -> dt.datetime:
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    text = str(value)
    try:
        return dt.datetime.fromtimestamp(float(text), dt.UTC)
    except ValueError:
        return _aware(dt.datetime.fromisoformat(text.replace("Z", "+00:00")))


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _form_queries(form: dict[str, str]) -> list[dict[str, Any]]:
    """The MetricDataQueries of a query-protocol request, as the JSON protocol spells them."""
    numbered: dict[int, dict[str, str]] = {}
    for key, value in form.items():
        found = _QUERY_PREFIX.match(key)
        if found:
            numbered.setdefault(int(found.group(1)), {})[found.group(2)] = value
    queries = []
    for number in sorted(numbered):
        flat = numbered[number]
        query: dict[str, Any] = {"Id": flat.get("Id", "")}
        if "Label" in flat:
            query["Label"] = flat["Label"]
        if "ReturnData" in flat:
            query["ReturnData"] = flat["ReturnData"].lower() == "true"
        if "MetricStat.Stat" in flat:
            dimensions = []
            index = 1
            while f"MetricStat.Metric.Dimensions.member.{index}.Name" in flat:
                prefix = f"MetricStat.Metric.Dimensions.member.{index}"
                dimensions.append(
                    {"Name": flat[prefix + ".Name"], "Value": flat[prefix + ".Value"]}
                )
                index += 1
            query["MetricStat"] = {
                "Metric": {
                    "Namespace": flat.get("MetricStat.Metric.Namespace", ""),
                    "MetricName": flat.get("MetricStat.Metric.MetricName", ""),
                    "Dimensions": dimensions,
                },
                "Period": int(flat.get("MetricStat.Period", "60")),
                "Stat": flat["MetricStat.Stat"],
            }
            if "MetricStat.Unit" in flat:
                query["MetricStat"]["Unit"] = flat["MetricStat.Unit"]
        queries.append(query)
    return queries


def _xml_results(xml: bytes) -> list[dict[str, Any]]:
    root = ET.fromstring(xml)  # noqa: S314 - moto's own answer, not untrusted input
    container = root.find(f".//{{{_NS}}}MetricDataResults")
    results = []
    for member in container if container is not None else []:
        stamps = member.find(f"{{{_NS}}}Timestamps")
        values = member.find(f"{{{_NS}}}Values")
        results.append(
            {
                "Id": member.findtext(f"{{{_NS}}}Id") or "",
                "Label": member.findtext(f"{{{_NS}}}Label") or "",
                "Timestamps": [
                    _instant(e.text or "") for e in (stamps if stamps is not None else [])
                ],
                "Values": [float(e.text or 0) for e in (values if values is not None else [])],
                "StatusCode": member.findtext(f"{{{_NS}}}StatusCode") or "Complete",
            }
        )
    return results


def _xml_reply(results: list[dict[str, Any]]) -> Reply:
    members = []
    for result in results:
        stamps = "".join(
            f"<member>{t.strftime('%Y-%m-%dT%H:%M:%SZ')}</member>" for t in result["Timestamps"]
        )
        values = "".join(f"<member>{v!r}</member>" for v in result["Values"])
        members.append(
            f"<member><Id>{escape(result['Id'])}</Id><Label>{escape(result['Label'])}</Label>"
            f"<Timestamps>{stamps}</Timestamps><Values>{values}</Values>"
            f"<StatusCode>{result['StatusCode']}</StatusCode></member>"
        )
    rid = request_id()
    body = (
        f'<GetMetricDataResponse xmlns="{_NS}"><GetMetricDataResult><MetricDataResults>'
        f"{''.join(members)}</MetricDataResults><Messages/></GetMetricDataResult>"
        f"<ResponseMetadata><RequestId>{rid}</RequestId></ResponseMetadata>"
        "</GetMetricDataResponse>"
    ).encode()
    return Reply(
        200,
        [
            ("Content-Type", "text/xml"),
            ("x-amzn-RequestId", rid),
            ("Content-Length", str(len(body))),
        ],
        body,
    )
