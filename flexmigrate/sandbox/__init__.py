"""Local rehearsal environment: a moto server behind an AWS front, and a Kubernetes API emulator.

Nothing outside this package knows it exists: flexmigrate reaches it through the same
endpoints, tokens and certificates it uses against a real account and cluster.

Its parts, one sub-package each: ``world`` seeds Flexdesk's current infrastructure into moto,
``aws`` is the AWS front, ``kube`` the Kubernetes API emulator, ``traffic`` the traffic and
CloudWatch simulator. ``daemon`` runs them in one background process; ``manage`` starts,
stops and steers it from the command line; ``extra`` names the ``sandbox`` extra they need.
"""
