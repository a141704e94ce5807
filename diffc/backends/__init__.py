"""From cleaned-up IR to Python text, and the run-time helpers a generated file may define."""
