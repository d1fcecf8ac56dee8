# Nested repeats of convolutions, scalars on both sides of modules, and pooling.
param width = 8

def Stage(n) = (Conv2D(width, width) @ ReLU) ** n * 0.5

net Nested(x: [3, 8, 8]) = (
    Linear(10, width) @ Flatten @ AvgPool @ (2 * Stage(2) ** 3)
    @ Conv2D(width, 3, kernel=3, stride=1, padding=1) / 2)
net Strided(x: [1, 9, 9]) = Linear(4, 2 * 3 * 3) @ Flatten @ Conv2D(2, 1, kernel=3, stride=3,
                                                                   padding=0, mass=0.5)
# Mass 0: the repeat's copies all get target norm 0.
net Frozen(x: [4]) = ReLU ** 3
