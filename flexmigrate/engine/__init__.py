"""The runbook executor: preflight, checkpointed steps, plan, verify, rollback.

It never imports ``phases``: the command line passes the registry in, so the engine is tested
with phases defined in the tests.
"""
