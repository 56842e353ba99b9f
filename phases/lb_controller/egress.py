"""Can the nodes pull the controller's image and reach the APIs it calls?

The controller runs from ``public.ecr.aws/eks/aws-load-balancer-controller`` unless the
runbook's Helm values or manifests say otherwise; Amazon ECR Public has no VPC endpoint. It
calls Elastic Load Balancing and EC2 to register targets, and STS for its IRSA credentials.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flexmigrate.engine.protocol import Outcome, failed
from flexmigrate.errors import StepFailed
from phases.lb_controller.install import render_manifests
from phases.shared.egress import check_egress

if TYPE_CHECKING:
    from phases.shared.sections import StepContext

# eks-charts' aws-load-balancer-controller values.yaml: image.repository
CHART_IMAGE = "public.ecr.aws/eks/aws-load-balancer-controller"
CONTROLLER_APIS = {
    "elasticloadbalancing": "the controller (targets, listeners)",
    "ec2": "the controller (security groups, subnets)",
    "sts": "the controller (IRSA credentials)",
}


def controller_images(ctx: StepContext) -> list[str]:
    lb = ctx.runbook.lb_controller
    if lb.install == "manifests":
        images = []
        for obj in render_manifests(ctx.runbook, {}, strict=False):
            if obj.get("kind") != "Deployment":
                continue
            pod = obj.get("spec", {}).get("template", {}).get("spec", {})
            for container in [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]:
                if container.get("image"):
                    images.append(str(container["image"]))
        return images
    image: Any = lb.values.get("image") or {}
    repository = (
        str(image.get("repository") or CHART_IMAGE) if isinstance(image, dict) else CHART_IMAGE
    )
    tag = str(image.get("tag") or "") if isinstance(image, dict) else ""
    return [f"{repository}:{tag}" if tag else repository]


def controller_egress(ctx: StepContext) -> Outcome:
    try:
        images = controller_images(ctx)
    except StepFailed as exc:
        return failed(str(exc), exc.hint)
    return check_egress(ctx, {image: "the controller's" for image in images}, CONTROLLER_APIS)
