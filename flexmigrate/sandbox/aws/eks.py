"""The EKS part of the front: which operations it answers itself, and how it reports errors.

Operations not listed go to moto untouched. Listed ones run one at a time under the EKS
lock, after deletions that are due have been finished, so each answer sees one consistent
world.
"""

from __future__ import annotations

from collections.abc import Callable

from flexmigrate.sandbox.aws import eks_access, eks_addons, eks_clusters, eks_updates
from flexmigrate.sandbox.aws.config import EksTiming, KubeEndpoint
from flexmigrate.sandbox.aws.eks_catalog import CatalogError
from flexmigrate.sandbox.aws.eks_world import EksError, EksWorld
from flexmigrate.sandbox.aws.routing import Call
from flexmigrate.sandbox.aws.upstream import MotoUpstream
from flexmigrate.sandbox.aws.wire import Inbound, Reply, json_reply

Handler = Callable[[EksWorld, Call, Inbound], Reply]

_HANDLERS: dict[str, Handler] = {
    "CreateCluster": eks_clusters.create_cluster,
    "DescribeCluster": eks_clusters.describe_cluster,
    "DeleteCluster": eks_clusters.delete_cluster,
    "ListClusters": eks_clusters.passthrough,
    "CreateNodegroup": eks_clusters.create_nodegroup,
    "DescribeNodegroup": eks_clusters.describe_nodegroup,
    "DeleteNodegroup": eks_clusters.delete_nodegroup,
    "UpdateNodegroupConfig": eks_updates.update_nodegroup_config,
    "DescribeUpdate": eks_updates.describe_update,
    "ListNodegroups": eks_clusters.passthrough,
    "DescribeClusterVersions": lambda world, call, inbound: json_reply(
        200, world.catalog.describe_cluster_versions(inbound.query_params())
    ),
    "DescribeAddonVersions": eks_addons.describe_addon_versions,
    "CreateAddon": eks_addons.create_addon,
    "DescribeAddon": eks_addons.describe_addon,
    "ListAddons": eks_addons.list_addons,
    "UpdateAddon": eks_addons.update_addon,
    "DeleteAddon": eks_addons.delete_addon,
    "CreateAccessEntry": eks_access.create_access_entry,
    "DescribeAccessEntry": eks_access.describe_access_entry,
    "UpdateAccessEntry": eks_access.update_access_entry,
    "ListAccessEntries": eks_access.list_access_entries,
    "DeleteAccessEntry": eks_access.delete_access_entry,
    "AssociateAccessPolicy": eks_access.associate_access_policy,
    "DisassociateAccessPolicy": eks_access.disassociate_access_policy,
    "ListAssociatedAccessPolicies": eks_access.list_associated_access_policies,
    "ListAccessPolicies": eks_access.list_access_policies,
}


class EksFront:
    def __init__(
        self, upstream: MotoUpstream, timing: EksTiming, kube_endpoint: KubeEndpoint | None
    ) -> None:
        self.world = EksWorld(upstream, timing, kube_endpoint)

    def start(self) -> None:
        self.world.start()

    def stop(self) -> None:
        self.world.stop()

    def handle(self, call: Call, inbound: Inbound) -> Reply | None:
        """The answer to an EKS call the front serves itself; None to pass it to moto."""
        handler = _HANDLERS.get(call.operation)
        if handler is None:
            return None
        with self.world.lock:
            self.world.finalize_due()
            try:
                return handler(self.world, call, inbound)
            except EksError as exc:
                return json_reply(
                    exc.status,
                    {"message": exc.message, **exc.fields},
                    [("x-amzn-ErrorType", exc.code)],
                )
            except CatalogError as exc:
                return json_reply(400, {"message": str(exc)}, [("x-amzn-ErrorType", exc.code)])
