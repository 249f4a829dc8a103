"""bedrock-gateway: an OpenAI-compatible, guardrailed chat gateway for Amazon Bedrock."""
