# No repeats and no bonds: the generated file imports neither torch nor the bonds.
net Plain(x: [4]) = Linear(3, 4) @ Identity
net Empty(x: [4]) = Identity
