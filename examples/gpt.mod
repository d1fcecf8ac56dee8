param vocab = 96
param context = 64
param width = 128
param heads = 4
param blocks = 2
net GPT(x: int[context]) = GPT(vocab, heads, width, width // heads, width // heads, blocks)
