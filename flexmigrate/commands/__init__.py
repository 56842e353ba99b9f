"""What each command does, behind the thin click layer in ``flexmigrate.cli``."""
