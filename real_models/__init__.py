"""logitrank.real_models — torch adapters that make real LMs look like theory-side sequence models."""
