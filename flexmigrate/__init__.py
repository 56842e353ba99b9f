"""flexmigrate: move a backend from one EC2 instance onto Amazon EKS, phase by phase."""

__version__ = "0.1.0"
