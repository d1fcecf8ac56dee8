# Tuples: nested members, a tuple as the output, tuple-valued '+', and a repeat whose
# state is a pair (its body unpacks the pair to add its members).
net Branches(x: [8]) = Linear(4, 8) @ Add @ (Linear(8, 8), (Linear(8, 8) @ ReLU) + Identity,
                                             0.5 * Identity)
net Pair(x: [8]) = (Linear(4, 8), (Linear(2, 8) @ GELU, Abs))
net TupleSum(x: [8]) = (Linear(8, 8), ReLU) + (Identity, Abs @ Linear(8, 8))
net PairLoop(x: [8]) = Add @ (Linear(8, 8) @ Add, Add) ** 3 @ (Identity, Linear(8, 8))
