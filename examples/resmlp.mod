# Modula 1's residual MLP on scikit-learn's 8x8 digits (64 pixels, 10 classes).
param width = 64
param blocks = 2
param block_depth = 2

net ResMLP(x: [64]) = ResMLP(width, blocks, block_depth, 64, 10)
