"""Use cases as plain async functions: no strawberry import here, so the CLI and tests call them too."""
