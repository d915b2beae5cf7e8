"""models_zoo package."""
