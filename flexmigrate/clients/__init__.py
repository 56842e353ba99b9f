"""The only modules that import boto3, botocore and kubernetes. Clients are built once per
command and handed to the engine and phases; errors are wrapped and redacted here."""
