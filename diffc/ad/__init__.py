"""Automatic differentiation on the IR: gate fusion and the reverse transform."""
