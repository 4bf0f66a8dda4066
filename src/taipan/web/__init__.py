"""HTTP entry point: create_app(settings), one router per dialect or resource."""
