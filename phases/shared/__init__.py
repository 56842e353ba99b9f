"""Code more than one phase uses: AWS look-ups of what the runbook names (``lookups``), names
and ARNs derived from the runbook (``naming``), IAM roles (``iam_roles``), VPC facts (``vpc``) and
the runbook sections the phases read (``sections``). No phase package imports another: what two
phases share lives here."""
