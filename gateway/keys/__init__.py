"""API keys and teams: who is calling, and what they may do."""
