param width = 128
param depth = 3
net MLP(x: [64]) = MLP(10, 64, width, depth)
