"""What looks at a function at given arguments: its graph, its narration, the gradient check."""
