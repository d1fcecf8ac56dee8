# Modula 1's residual CNN on scikit-learn's 8x8 digits as 1-channel images.
param width = 16
param blocks = 2
param block_depth = 2

net ResCNN(x: [1, 8, 8]) = ResCNN(width, blocks, block_depth, 1, 10)
