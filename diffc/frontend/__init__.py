"""The frontend: a user's function, as text, to IR (see docs/architecture.md).

It parses and never runs the user's code; what it cannot lower is refused with
located errors, all of them at once.
"""
