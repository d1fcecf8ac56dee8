param width = 32
param blocks = 2
param block_depth = 2
net ResCNN(x: [1, 8, 8]) = ResCNN(width, blocks, block_depth, 1, 10)
