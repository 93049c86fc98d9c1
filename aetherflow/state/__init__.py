"""The SQLite state store: runs, jobs, steps, attempts and locks."""
