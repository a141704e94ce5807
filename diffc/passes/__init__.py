"""Analyses and cleanups between the transforms and the emitter; none changes a value."""
