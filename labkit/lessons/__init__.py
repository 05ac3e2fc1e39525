"""Support code of the lesson notebooks: one module per lesson (pure functions, exercises, checkers)."""
