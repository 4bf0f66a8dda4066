"""The relational database: models, engines and migrations."""
