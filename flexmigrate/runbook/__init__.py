"""The runbook: one YAML file that says what to migrate and how.

Kept free of imports so that ``status`` can find a runbook's name without pydantic; use
``flexmigrate.runbook.loader`` and ``flexmigrate.runbook.model`` directly."""
