"""How traffic reaches Flexdesk today: DNS, certificate, ALB, target group, alarms.

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
from flexmigrate.sandbox.world.tags import DOMAIN_NAME, ZONE_NAME, tag_list

ALB_NAME = "flexdesk-alb"
EC2_TARGET_GROUP = "flexdesk-ec2"
APP_PORT = 8000
ALARM_5XX = "flexdesk-ec2-5xx"
ALARM_LATENCY = "flexdesk-ec2-latency"
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
    vpc_id: str,
    public_subnet_ids: list[str],
    alb_security_group_id: str,
    instance_id: str,
) -> EdgeIds:
    """Certificate, ALB with both listeners, the EC2 target group, its alarms, DNS."""
    certificate_arn = _import_certificate(acm)
    lb = elbv2.create_load_balancer(
        Name=ALB_NAME,
        Subnets=public_subnet_ids,
        SecurityGroups=[alb_security_group_id],
        Scheme="internet-facing",
        Type="application",
        IpAddressType="ipv4",
        Tags=tag_list(ALB_NAME),
    )["LoadBalancers"][0]
    alb_arn: str = lb["LoadBalancerArn"]
    elbv2.modify_load_balancer_attributes(
        LoadBalancerArn=alb_arn,
        Attributes=[{"Key": "deletion_protection.enabled", "Value": "true"}],
    )
    target_group_arn = _ec2_target_group(elbv2, vpc_id, instance_id)
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
        Tags=tag_list("flexdesk-http"),
    )["Listeners"][0]["ListenerArn"]
    https_arn: str = elbv2.create_listener(
        LoadBalancerArn=alb_arn,
        Protocol="HTTPS",
        Port=443,
        SslPolicy=SSL_POLICY,
        Certificates=[{"CertificateArn": certificate_arn}],
        DefaultActions=[{"Type": "forward", "TargetGroupArn": target_group_arn}],
        Tags=tag_list("flexdesk-https"),
    )["Listeners"][0]["ListenerArn"]

    alarms = _ec2_alarms(cloudwatch, alb_arn, target_group_arn)
    zone_id = _dns(route53, lb["DNSName"], lb["CanonicalHostedZoneId"])
    return EdgeIds(
        certificate_arn=certificate_arn,
        alb_arn=alb_arn,
        alb_name=ALB_NAME,
        alb_dns_name=lb["DNSName"],
        alb_canonical_hosted_zone_id=lb["CanonicalHostedZoneId"],
        http_listener_arn=http_arn,
        https_listener_arn=https_arn,
        ec2_target_group_arn=target_group_arn,
        alarm_names=alarms,
        hosted_zone_id=zone_id,
        domain_name=DOMAIN_NAME,
    )


def _import_certificate(acm: Any) -> str:
    """A certificate the HTTPS listener can use at once.

    moto keeps a *requested* certificate in PENDING_VALIDATION for a minute; an imported one
    is ISSUED immediately, which is the state the production certificate is in.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, DOMAIN_NAME)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(DOMAIN_NAME)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    arn: str = acm.import_certificate(
        Certificate=certificate.public_bytes(serialization.Encoding.PEM),
        PrivateKey=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        Tags=tag_list(DOMAIN_NAME),
    )["CertificateArn"]
    return arn


def _ec2_target_group(elbv2: Any, vpc_id: str, instance_id: str) -> str:
    arn: str = elbv2.create_target_group(
        Name=EC2_TARGET_GROUP,
        Protocol="HTTP",
        ProtocolVersion="HTTP1",
        Port=APP_PORT,
        VpcId=vpc_id,
        TargetType="instance",
        HealthCheckProtocol="HTTP",
        HealthCheckPort="traffic-port",
        HealthCheckPath="/health",
        HealthCheckIntervalSeconds=30,
        HealthCheckTimeoutSeconds=5,
        HealthyThresholdCount=5,
        UnhealthyThresholdCount=2,
        Matcher={"HttpCode": "200"},
        Tags=tag_list(EC2_TARGET_GROUP),
    )["TargetGroups"][0]["TargetGroupArn"]
    elbv2.modify_target_group_attributes(
        TargetGroupArn=arn,
        Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "300"}],
    )
    elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": instance_id, "Port": APP_PORT}])
    return arn


def _ec2_alarms(cloudwatch: Any, alb_arn: str, target_group_arn: str) -> tuple[str, ...]:
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
        "Tags": tag_list(),
    }
    cloudwatch.put_metric_alarm(
        AlarmName=ALARM_5XX,
        AlarmDescription="flexdesk EC2 backend answers more than 10 5xx a minute",
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
        AlarmName=ALARM_LATENCY,
        AlarmDescription="flexdesk EC2 backend p99 response time above 1.5 s for 3 minutes",
        MetricName="TargetResponseTime",
        ExtendedStatistic="p99",
        Period=60,
        EvaluationPeriods=3,
        DatapointsToAlarm=3,
        Threshold=1.5,
        Unit="Seconds",
        **common,
    )
    return (ALARM_5XX, ALARM_LATENCY)


def _dns(route53: Any, alb_dns_name: str, alb_zone_id: str) -> str:
    zone = route53.create_hosted_zone(
        Name=ZONE_NAME,
        CallerReference=f"flexdesk-{uuid.uuid4()}",
        HostedZoneConfig={"Comment": "flexdesk public zone", "PrivateZone": False},
    )["HostedZone"]
    zone_id: str = zone["Id"].rsplit("/", 1)[-1]
    route53.change_tags_for_resource(
        ResourceType="hostedzone", ResourceId=zone_id, AddTags=tag_list(ZONE_NAME)
    )
    route53.change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={
            "Comment": "flexdesk.sch.ng to the ALB",
            "Changes": [
                {
                    "Action": "CREATE",
                    "ResourceRecordSet": {
                        "Name": f"{DOMAIN_NAME}.",
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
