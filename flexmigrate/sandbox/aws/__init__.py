"""The sandbox's AWS front: the endpoint flexmigrate's AWS clients reach in a rehearsal.

It stands in front of a moto server and answers like AWS would: it passes calls through,
serves the EKS APIs moto lacks, lets EKS resources take time to create and delete, derives
the health of IP targets from security groups, and throttles on request.
"""

from flexmigrate.sandbox.aws.config import EksTiming, FrontConfig
from flexmigrate.sandbox.aws.front import AwsFront

__all__ = ["AwsFront", "EksTiming", "FrontConfig"]
