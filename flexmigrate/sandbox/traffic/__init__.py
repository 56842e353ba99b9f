"""Simulated Flexdesk traffic through the seeded ALB, and the CloudWatch data it makes.

``TrafficSimulator`` (``simulator``) runs in the sandbox's process: every tick it reads the
load balancers, listeners and target health fresh (``topology``), sends a fixed mix of
requests where an ALB would send them (``routing``), publishes ``AWS/ApplicationELB``
metrics, keeping its own exact record of them (``series``), and evaluates the ALB alarms
as CloudWatch would (``alarms``).
"""

from flexmigrate.sandbox.traffic.simulator import TrafficSimulator

__all__ = ["TrafficSimulator"]
