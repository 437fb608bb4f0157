"""Client-side integrations. Nothing here is imported by the Lambda function."""
