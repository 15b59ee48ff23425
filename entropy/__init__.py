"""Entropy layer: probability models (training likelihoods and integer coding tables), the
fixed-point entropy-parameter path, and the arithmetic-coder backends."""
