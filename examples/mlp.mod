# A multilayer perceptron for scikit-learn's 8x8 digits: 64 pixels in, 10 classes out.
param width = 128
param depth = 3

net MLP(x: [64]) = MLP(10, 64, width, depth)
