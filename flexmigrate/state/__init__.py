"""Durable state of a runbook's migration: ``state.json``, ``journal.jsonl``, ``lock``."""
