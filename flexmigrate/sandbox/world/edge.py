"""How traffic reaches the app today: DNS, certificate, ALB, target group, alarms.

Phase 4 shifts weight on the HTTPS listener this module creates, so its default action is
written the way Terraform writes a simple ``forward``: a plain ``TargetGroupArn`` (AWS then
also reports an equivalent one-entry ``ForwardConfig`` at weight 1; moto 5.2.5 returns
the action as written). Phase 4 replaces it with a weighted ``ForwardConfig``. The EC2 side's
alarms are the ones the migration's health gates compare the EKS side against.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from flexmigrate.sandbox.traffic.series import metric_dimension
from flexmigrate.sandbox.world.spec import WorldSpec
from flexmigrate.sandbox.world.tags import Tags

SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"


@dataclass(frozen=True)
class EdgeIds:
    """Identifiers the rest of the sandbox and the tests look up."""

    certificate_arn: str
    alb_arn: str
    alb_name: str
    alb_dns_name: str
    alb_canonical_hosted_zone_id: str
    http_listener_arn: str
    https_listener_arn: str
    ec2_target_group_arn: str
    alarm_names: tuple[str, ...]
    hosted_zone_id: str
    domain_name: str


def seed_edge(
    *,
    elbv2: Any,
    acm: Any,
    cloudwatch: Any,
    route53: Any,
    spec: WorldSpec,
    vpc_id: str,
    public_subnet_ids: list[str],
    alb_security_group_id: str,
    instance_id: str,
) -> EdgeIds:
    """The ALB with the runbook's listener (HTTPS:443 with a certificate and an HTTP:80
    redirect to it; any other port plain HTTP), the EC2 target group, its alarms, DNS."""
    tags = Tags(spec.project)
    https = spec.listener_port == 443
    certificate_arn = _import_certificate(acm, tags, spec.domain_name) if https else ""
    lb = elbv2.create_load_balancer(
        Name=spec.alb_name,
        Subnets=public_subnet_ids,
        SecurityGroups=[alb_security_group_id],
        Scheme="internet-facing",
        Type="application",
        IpAddressType="ipv4",
        Tags=tags.of(spec.alb_name),
    )["LoadBalancers"][0]
    alb_arn: str = lb["LoadBalancerArn"]
    elbv2.modify_load_balancer_attributes(
        LoadBalancerArn=alb_arn,
        Attributes=[{"Key": "deletion_protection.enabled", "Value": "true"}],
    )
    target_group_arn = _ec2_target_group(elbv2, tags, spec, vpc_id, instance_id)
    forward = [{"Type": "forward", "TargetGroupArn": target_group_arn}]
    if not https:
        http_arn = ""
        https_arn: str = elbv2.create_listener(
            LoadBalancerArn=alb_arn,
            Protocol="HTTP",
            Port=spec.listener_port,
            DefaultActions=forward,
            Tags=tags.of(f"{spec.project}-http-{spec.listener_port}"),
        )["Listeners"][0]["ListenerArn"]
    else:
        http_arn, https_arn = _https_listeners(elbv2, tags, spec, alb_arn, certificate_arn, forward)
    alarms = _ec2_alarms(cloudwatch, tags, spec, alb_arn, target_group_arn)
    zone_id = _dns(route53, tags, spec, lb["DNSName"], lb["CanonicalHostedZoneId"])
    return EdgeIds(
        certificate_arn=certificate_arn,
        alb_arn=alb_arn,
        alb_name=spec.alb_name,
        alb_dns_name=lb["DNSName"],
        alb_canonical_hosted_zone_id=lb["CanonicalHostedZoneId"],
        http_listener_arn=http_arn,
        https_listener_arn=https_arn,
        ec2_target_group_arn=target_group_arn,
        alarm_names=alarms,
        hosted_zone_id=zone_id,
        domain_name=spec.domain_name,
    )


def _https_listeners(
    elbv2: Any,
    tags: Tags,
    spec: WorldSpec,
    alb_arn: str,
    certificate_arn: str,
    forward: list[dict[str, Any]],
) -> tuple[str, str]:
    http_arn: str = elbv2.create_listener(
        LoadBalancerArn=alb_arn,
        Protocol="HTTP",
        Port=80,
        DefaultActions=[
            {
                "Type": "redirect",
                "RedirectConfig": {
                    "Protocol": "HTTPS",
                    "Port": "443",
                    "Host": "#{host}",
                    "Path": "/#{path}",
                    "Query": "#{query}",
                    "StatusCode": "HTTP_301",
                },
            }
        ],
        Tags=tags.of(f"{spec.project}-http"),
    )["Listeners"][0]["ListenerArn"]
    https_arn: str = elbv2.create_listener(
        LoadBalancerArn=alb_arn,
        Protocol="HTTPS",
        Port=443,
        SslPolicy=SSL_POLICY,
        Certificates=[{"CertificateArn": certificate_arn}],
        DefaultActions=forward,
        Tags=tags.of(f"{spec.project}-https"),
    )["Listeners"][0]["ListenerArn"]
    return http_arn, https_arn


def _import_certificate(acm: Any, tags: Tags, domain: str) -> str:
    """A certificate the HTTPS listener can use at once.

    moto keeps a *requested* certificate in PENDING_VALIDATION for a minute; an imported one
    is ISSUED immediately, which is the state the production certificate is in.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(domain)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    arn: str = acm.import_certificate(
        Certificate=certificate.public_bytes(serialization.Encoding.PEM),
        PrivateKey=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        Tags=tags.of(domain),
    )["CertificateArn"]
    return arn


def _ec2_target_group(
    elbv2: Any, tags: Tags, spec: WorldSpec, vpc_id: str, instance_id: str
) -> str:
    arn: str = elbv2.create_target_group(
        Name=spec.ec2_target_group,
        Protocol="HTTP",
        ProtocolVersion="HTTP1",
        Port=spec.app_port,
        VpcId=vpc_id,
        TargetType="instance",
        HealthCheckProtocol="HTTP",
        HealthCheckPort="traffic-port",
        HealthCheckPath=spec.health_check_path,
        HealthCheckIntervalSeconds=30,
        HealthCheckTimeoutSeconds=5,
        HealthyThresholdCount=5,
        UnhealthyThresholdCount=2,
        Matcher={"HttpCode": "200"},
        Tags=tags.of(spec.ec2_target_group),
    )["TargetGroups"][0]["TargetGroupArn"]
    elbv2.modify_target_group_attributes(
        TargetGroupArn=arn,
        Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "300"}],
    )
    elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": instance_id, "Port": spec.app_port}])
    return arn


def _ec2_alarms(
    cloudwatch: Any, tags: Tags, spec: WorldSpec, alb_arn: str, target_group_arn: str
) -> tuple[str, ...]:
    """The EC2 side's own alarms (``<target group>-5xx``, ``-latency``), and the alarms the
    runbook names (``app.alarms.existing``, ``traffic.gates.extra_alarms``) on the load
    balancer's 5xx count, so that a gate on them has an alarm to read."""
    alarm_5xx = f"{spec.ec2_target_group}-5xx"
    alarm_latency = f"{spec.ec2_target_group}-latency"
    dimensions = [
        {"Name": "LoadBalancer", "Value": metric_dimension(alb_arn, "loadbalancer")},
        {"Name": "TargetGroup", "Value": metric_dimension(target_group_arn, "targetgroup")},
    ]
    # ALB metrics only exist while requests flow and 5xx counts only when non-zero, so
    # missing data is the normal, healthy case for both alarms.
    common: dict[str, Any] = {
        "Namespace": "AWS/ApplicationELB",
        "Dimensions": dimensions,
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "notBreaching",
        "ActionsEnabled": True,
        "Tags": tags.of(),
    }
    cloudwatch.put_metric_alarm(
        AlarmName=alarm_5xx,
        AlarmDescription=f"{spec.instance_name} answers more than 10 5xx a minute",
        MetricName="HTTPCode_Target_5XX_Count",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        DatapointsToAlarm=1,
        Threshold=10.0,
        Unit="Count",
        **common,
    )
    cloudwatch.put_metric_alarm(
        AlarmName=alarm_latency,
        AlarmDescription=f"{spec.instance_name} p99 response time above 1.5 s for 3 minutes",
        MetricName="TargetResponseTime",
        ExtendedStatistic="p99",
        Period=60,
        EvaluationPeriods=3,
        DatapointsToAlarm=3,
        Threshold=1.5,
        Unit="Seconds",
        **common,
    )
    named = [name for name in spec.alarm_names if name not in (alarm_5xx, alarm_latency)]
    for name in named:
        cloudwatch.put_metric_alarm(
            AlarmName=name,
            AlarmDescription=f"named by the runbook {spec.runbook}",
            MetricName="HTTPCode_ELB_5XX_Count",
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=10.0,
            Unit="Count",
            **{**common, "Dimensions": dimensions[:1]},
        )
    return (alarm_5xx, alarm_latency, *named)


def _dns(route53: Any, tags: Tags, spec: WorldSpec, alb_dns_name: str, alb_zone_id: str) -> str:
    zone = route53.create_hosted_zone(
        Name=spec.zone_name,
        CallerReference=f"{spec.project}-{uuid.uuid4()}",
        HostedZoneConfig={"Comment": f"{spec.project} public zone", "PrivateZone": False},
    )["HostedZone"]
    zone_id: str = zone["Id"].rsplit("/", 1)[-1]
    route53.change_tags_for_resource(
        ResourceType="hostedzone", ResourceId=zone_id, AddTags=tags.of(spec.zone_name)
    )
    route53.change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={
            "Comment": f"{spec.domain_name} to the ALB",
            "Changes": [
                {
                    "Action": "CREATE",
                    "ResourceRecordSet": {
                        "Name": f"{spec.domain_name}.",
                        "Type": "A",
                        "AliasTarget": {
                            "HostedZoneId": alb_zone_id,
                            "DNSName": f"{alb_dns_name}.",
                            "EvaluateTargetHealth": True,
                        },
                    },
                }
            ],
        },
    )
    return zone_id
