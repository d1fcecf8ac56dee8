param width = 128
param blocks = 4
param block_depth = 1
net ResMLP(x: [64]) = ResMLP(width, blocks, block_depth, 64, 10)
