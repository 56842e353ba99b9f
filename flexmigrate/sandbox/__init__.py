"""Local rehearsal environment: a moto server behind an AWS front, and a Kubernetes API emulator.

Nothing outside this package knows it exists: flexmigrate reaches it through the same
endpoints, tokens and certificates it uses against a real account and cluster.
"""
